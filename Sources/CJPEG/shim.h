#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <jpeglib.h>
#include <jerror.h>

/* libjpeg reports fatal errors by calling error_exit, which must not return. These helpers
   turn such an error into a return code and a message, because Swift cannot use setjmp. */

struct gradscope_jpeg_error {
    struct jpeg_error_mgr manager;
    jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
    int prematureEnd;
};

static void gradscope_jpeg_error_exit(j_common_ptr info) {
    struct gradscope_jpeg_error *error = (struct gradscope_jpeg_error *)info->err;
    (*info->err->format_message)(info, error->message);
    longjmp(error->jump, 1);
}

/* Warnings are kept silent, except that a file ending early is remembered: libjpeg fills the
   missing rows with grey and carries on, whereas Pillow rejects a truncated file. */
static void gradscope_jpeg_emit_message(j_common_ptr info, int level) {
    struct gradscope_jpeg_error *error = (struct gradscope_jpeg_error *)info->err;
    if (level < 0 && info->err->msg_code == JWRN_JPEG_EOF) {
        error->prematureEnd = 1;
        (*info->err->format_message)(info, error->message);
    }
}

/* Decodes a JPEG held in memory to 8-bit RGB with libjpeg's default (Pillow's) settings: islow
   IDCT and fancy upsampling. Grayscale and YCbCr files are converted to RGB by libjpeg.
   On success returns 0 and stores a malloc'ed [height, width, 3] buffer that the caller frees.
   On failure returns 1 and writes a NUL-terminated description into message. */
static inline int gradscope_decode_jpeg(
    const unsigned char *data, unsigned long size, unsigned char **pixels, int *width, int *height,
    char *message, size_t messageCapacity)
{
    struct jpeg_decompress_struct info;
    struct gradscope_jpeg_error error;
    unsigned char *volatile buffer = NULL;

    memset(&error, 0, sizeof(error));
    info.err = jpeg_std_error(&error.manager);
    error.manager.error_exit = gradscope_jpeg_error_exit;
    error.manager.emit_message = gradscope_jpeg_emit_message;

    if (setjmp(error.jump)) {
        snprintf(message, messageCapacity, "%s", error.message);
        jpeg_destroy_decompress(&info);
        free(buffer);
        return 1;
    }

    jpeg_create_decompress(&info);
    jpeg_mem_src(&info, data, size);
    jpeg_read_header(&info, TRUE);

    if (info.jpeg_color_space == JCS_CMYK || info.jpeg_color_space == JCS_YCCK) {
        snprintf(message, messageCapacity, "CMYK JPEG files are not supported; convert the file to RGB");
        jpeg_destroy_decompress(&info);
        return 1;
    }

    info.out_color_space = JCS_RGB;
    jpeg_start_decompress(&info);

    size_t rowBytes = (size_t)info.output_width * 3;
    buffer = (unsigned char *)malloc(rowBytes * info.output_height);
    if (buffer == NULL) {
        snprintf(message, messageCapacity, "out of memory for a %u x %u image", info.output_width, info.output_height);
        jpeg_destroy_decompress(&info);
        return 1;
    }

    while (info.output_scanline < info.output_height) {
        JSAMPROW row = buffer + rowBytes * info.output_scanline;
        jpeg_read_scanlines(&info, &row, 1);
    }

    jpeg_finish_decompress(&info);
    *width = (int)info.output_width;
    *height = (int)info.output_height;
    jpeg_destroy_decompress(&info);

    if (error.prematureEnd) {
        snprintf(message, messageCapacity, "%s (the file is truncated)", error.message);
        free(buffer);
        return 1;
    }

    *pixels = buffer;
    return 0;
}
