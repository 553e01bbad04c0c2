#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <png.h>

/* libpng reports errors by calling an error function that must not return. These helpers turn
   such an error into a return code and a message, because Swift cannot use setjmp. */

struct gradscope_png_source {
    const unsigned char *data;
    size_t size;
    size_t offset;
    char message[256];
};

static void gradscope_png_error(png_structp png, png_const_charp text) {
    struct gradscope_png_source *source = (struct gradscope_png_source *)png_get_error_ptr(png);
    snprintf(source->message, sizeof(source->message), "%s", text);
    png_longjmp(png, 1);
}

static void gradscope_png_warning(png_structp png, png_const_charp text) {
    (void)png;
    (void)text;
}

static void gradscope_png_read(png_structp png, png_bytep destination, size_t count) {
    struct gradscope_png_source *source = (struct gradscope_png_source *)png_get_io_ptr(png);
    if (count > source->size - source->offset) {
        png_error(png, "unexpected end of file (the file is truncated)");
    }
    memcpy(destination, source->data + source->offset, count);
    source->offset += count;
}

/* Decodes a PNG held in memory to 8-bit RGB the way Pillow's convert("RGB") does: palette
   entries are looked up, grayscale is replicated to three channels, alpha (including tRNS)
   is dropped without compositing, and 16-bit samples keep their high byte.
   On success returns 0 and stores a malloc'ed [height, width, 3] buffer that the caller frees.
   On failure returns 1 and writes a NUL-terminated description into message. */
static inline int gradscope_decode_png(
    const unsigned char *data, size_t size, unsigned char **pixels, int *width, int *height,
    char *message, size_t messageCapacity)
{
    struct gradscope_png_source source;
    png_structp png;
    png_infop info = NULL;
    unsigned char *volatile buffer = NULL;
    png_bytep *volatile rows = NULL;

    memset(&source, 0, sizeof(source));
    source.data = data;
    source.size = size;

    png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &source, gradscope_png_error, gradscope_png_warning);
    if (png == NULL) {
        snprintf(message, messageCapacity, "libpng could not create a read structure");
        return 1;
    }
    info = png_create_info_struct(png);
    if (info == NULL) {
        png_destroy_read_struct(&png, NULL, NULL);
        snprintf(message, messageCapacity, "libpng could not create an info structure");
        return 1;
    }

    if (setjmp(png_jmpbuf(png))) {
        snprintf(message, messageCapacity, "%s", source.message);
        png_destroy_read_struct(&png, &info, NULL);
        free(buffer);
        free(rows);
        return 1;
    }

    png_set_read_fn(png, &source, gradscope_png_read);
    png_read_info(png, info);

    int colorType = png_get_color_type(png, info);
    int bitDepth = png_get_bit_depth(png, info);
    if (bitDepth == 16) {
        png_set_strip_16(png);
    }
    if (colorType == PNG_COLOR_TYPE_PALETTE) {
        png_set_palette_to_rgb(png);
    }
    if (colorType == PNG_COLOR_TYPE_GRAY && bitDepth < 8) {
        png_set_expand_gray_1_2_4_to_8(png);
    }
    if (colorType == PNG_COLOR_TYPE_GRAY || colorType == PNG_COLOR_TYPE_GRAY_ALPHA) {
        png_set_gray_to_rgb(png);
    }
    png_set_strip_alpha(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);

    png_uint_32 imageWidth = png_get_image_width(png, info);
    png_uint_32 imageHeight = png_get_image_height(png, info);
    size_t rowBytes = png_get_rowbytes(png, info);
    if (png_get_channels(png, info) != 3 || rowBytes != (size_t)imageWidth * 3) {
        png_error(png, "unexpected pixel layout after conversion to 8-bit RGB");
    }

    buffer = (unsigned char *)malloc(rowBytes * imageHeight);
    rows = (png_bytep *)malloc(sizeof(png_bytep) * imageHeight);
    if (buffer == NULL || rows == NULL) {
        png_error(png, "out of memory");
    }
    for (png_uint_32 row = 0; row < imageHeight; row++) {
        rows[row] = buffer + rowBytes * row;
    }
    png_read_image(png, rows);
    png_read_end(png, NULL);

    png_destroy_read_struct(&png, &info, NULL);
    free(rows);
    *width = (int)imageWidth;
    *height = (int)imageHeight;
    *pixels = buffer;
    return 0;
}
