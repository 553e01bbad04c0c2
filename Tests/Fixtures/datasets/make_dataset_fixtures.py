"""Write the small reference files that Tests/DatasetsTests reads.

Run from this directory with Python 3, numpy and Pillow (made with numpy 2.4.6, Pillow 13.0.0):
    python make_dataset_fixtures.py
Outputs:
    resize_input_*.bin                    fixed random [H, W, 3] images
    resize_expected.bin.gz, .json         Pillow's bilinear resizes of them, concatenated, and their offsets
    images/*.jpg|png, images_expected.json  Pillow's RGB decoding of JPEG and PNG files
    mnist_gz/*.gz                         gzip-compressed IDX files with known contents
    cifar10_pickle_p2/, cifar10_pickle_p4/, cifar10_pickle_legacy/, cifar100_pickle_p2/
                                          pickled CIFAR batches (protocol 2, 4, and Python 2 style)
    cifar10_jpeg_first_train.json         Pillow's decoding of the real CIFAR-10 JPEG folder's first
                                          training image (only when /work/shared/data/cifar10-jpeg exists)
"""

import gzip
import io
import json
import os
import pickle
import struct
import zlib

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))


def write(name, data):
    path = os.path.join(HERE, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as file:
        file.write(data)


# Resize: torchvision's Resize on a PIL image calls image.resize((width, height), BILINEAR).
def make_resize():
    generator = np.random.default_rng(0)
    inputs = {
        "resize_input_32x32.bin": generator.integers(0, 256, (32, 32, 3), dtype=np.uint8),
        "resize_input_97x75.bin": generator.integers(0, 256, (75, 97, 3), dtype=np.uint8),
    }
    targets = {
        "resize_input_32x32.bin": [(224, 224), (45, 20), (13, 8)],
        "resize_input_97x75.bin": [(32, 32), (64, 100), (97, 30)],
    }
    index = []
    outputs = b""
    for name, array in inputs.items():
        write(name, array.tobytes())
        for width, height in targets[name]:
            resized = np.asarray(Image.fromarray(array, "RGB").resize((width, height), Image.BILINEAR))
            index.append({"input": name, "width": width, "height": height, "offset": len(outputs)})
            outputs += resized.tobytes()
    write("resize_expected.bin.gz", gzip.compress(outputs, mtime=0))
    write("resize_expected.json", json.dumps(index, indent=1).encode())


def png_chunk(kind, payload):
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)


def png_16bit(array, color_type):
    """A 16-bit PNG written by hand, because Pillow cannot save 16-bit RGB."""
    height, width = array.shape[:2]
    rows = b"".join(b"\x00" + array[row].astype(">u2").tobytes() for row in range(height))
    header = struct.pack(">IIBBBBB", width, height, 16, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", zlib.compress(rows)) + png_chunk(b"IEND", b"")


def make_images():
    generator = np.random.default_rng(1)
    rows, columns = np.mgrid[0:18, 0:24]
    smooth = np.stack([rows * 12, columns * 9, (rows + columns) * 6], axis=-1)
    photo = np.clip(smooth + generator.normal(0, 12, smooth.shape), 0, 255).astype(np.uint8)
    small = generator.integers(0, 256, (9, 12, 3), dtype=np.uint8)

    files = {}
    buffer = io.BytesIO()
    Image.fromarray(photo, "RGB").save(buffer, "JPEG", quality=85)
    files["photo.jpg"] = buffer.getvalue()
    buffer = io.BytesIO()
    Image.fromarray(photo[:, :, 0], "L").save(buffer, "JPEG", quality=90)
    files["gray.jpg"] = buffer.getvalue()

    for name, image in {
        "rgb.png": Image.fromarray(small, "RGB"),
        "rgba.png": Image.fromarray(np.concatenate([small, small[:, :, :1]], axis=-1), "RGBA"),
        "gray.png": Image.fromarray(small[:, :, 1], "L"),
        "bilevel.png": Image.fromarray(small[:, :, 2] > 127).convert("1"),
        "palette.png": Image.fromarray(small, "RGB").quantize(colors=7),
    }.items():
        buffer = io.BytesIO()
        if name == "palette.png":
            image.save(buffer, "PNG", transparency=2)
        else:
            image.save(buffer, "PNG")
        files[name] = buffer.getvalue()

    wide = generator.integers(0, 65536, (9, 12, 3), dtype=np.uint16)
    files["rgb16.png"] = png_16bit(wide, 2)
    files["gray16.png"] = png_16bit(wide[:, :, 0], 0)

    expected = {}
    for name, data in files.items():
        write("images/" + name, data)
        if name == "gray16.png":
            # Pillow opens 16-bit grayscale as mode I;16 and convert("RGB") clips values above 255,
            # whereas the reader keeps the high byte, as Pillow does for 16-bit RGB.
            decoded = np.repeat((wide[:, :, 0] >> 8).astype(np.uint8)[:, :, None], 3, axis=-1)
        else:
            decoded = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
        expected[name] = {"width": decoded.shape[1], "height": decoded.shape[0], "hwc": decoded.reshape(-1).tolist()}
    write("images_expected.json", json.dumps(expected).encode())


def idx_bytes(array):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(struct.pack(">I", size) for size in array.shape)
    return header + array.astype(np.uint8).tobytes()


# MNIST: pixel (n, r, c) of a split is (n * 20 + r * 5 + c) * 3 % 256; images are 4 rows by 5 columns.
def make_mnist():
    for stem, count, labels in [("train", 3, [3, 1, 4]), ("t10k", 2, [5, 9])]:
        n, r, c = np.mgrid[0:count, 0:4, 0:5]
        pixels = (n * 20 + r * 5 + c) * 3 % 256
        write(f"mnist_gz/{stem}-images-idx3-ubyte.gz", gzip.compress(idx_bytes(pixels), mtime=0))
        write(f"mnist_gz/{stem}-labels-idx1-ubyte.gz", gzip.compress(idx_bytes(np.array(labels)), mtime=0))


class LegacyPickler(pickle._Pickler):
    """Writes bytes as Python 2 str opcodes and numpy's old module path, like the original CIFAR files."""

    def save_bytes(self, value):
        if len(value) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(value)]) + value)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(value)) + value)
        self.memoize(value)

    def save_global(self, obj, name=None):
        module = getattr(obj, "__module__", "")
        if module.startswith("numpy._core"):
            name = name or obj.__name__
            self.write(pickle.GLOBAL + b"numpy.core.multiarray\n" + name.encode() + b"\n")
            self.memoize(obj)
            return
        super().save_global(obj, name)

    dispatch = dict(pickle._Pickler.dispatch)
    dispatch[bytes] = save_bytes


def cifar_pixels(first, count):
    """Sample s of a set has pixel k equal to (s * 31 + k) % 256, s counting across batches."""
    samples = np.arange(first, first + count)[:, None]
    return ((samples * 31 + np.arange(3072)[None, :]) % 256).astype(np.uint8)


def dump(obj, protocol, legacy=False):
    if legacy:
        buffer = io.BytesIO()
        LegacyPickler(buffer, protocol=2).dump(obj)
        return buffer.getvalue()
    return pickle.dumps(obj, protocol=protocol)


# CIFAR-10: five training batches of 2 samples (labels 0..9 in order) and a test batch of 2 (labels 7, 3).
def make_cifar_pickles():
    names = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]
    for folder, protocol, legacy in [("cifar10_pickle_p2", 2, False), ("cifar10_pickle_p4", 4, False),
                                     ("cifar10_pickle_legacy", 2, True)]:
        for batch in range(1, 6):
            first = (batch - 1) * 2
            content = {b"batch_label": f"training batch {batch} of 5".encode(), b"labels": [first, first + 1],
                       b"data": cifar_pixels(first, 2), b"filenames": [b"a.png", b"b.png"]}
            write(f"{folder}/data_batch_{batch}", dump(content, protocol, legacy))
        content = {b"batch_label": b"testing batch 1 of 1", b"labels": [7, 3], b"data": cifar_pixels(10, 2),
                   b"filenames": [b"c.png", b"d.png"]}
        write(f"{folder}/test_batch", dump(content, protocol, legacy))
        meta = {b"num_cases_per_batch": 2, b"label_names": names, b"num_vis": 3072}
        write(f"{folder}/batches.meta", dump(meta, protocol, legacy))

    # CIFAR-100: 3 training and 2 test samples; fine labels 99, 0, 42 and 5, 17; coarse labels are fine // 5.
    fine_names = [f"class{index:02d}".encode() for index in range(100)]
    coarse_names = [f"super{index:02d}".encode() for index in range(20)]
    for split, first, fine in [("train", 0, [99, 0, 42]), ("test", 3, [5, 17])]:
        content = {b"filenames": [b"x.png"] * len(fine), b"batch_label": split.encode(), b"fine_labels": fine,
                   b"coarse_labels": [label // 5 for label in fine], b"data": cifar_pixels(first, len(fine))}
        write(f"cifar100_pickle_p2/{split}", dump(content, 2))
    write("cifar100_pickle_p2/meta", dump({b"fine_label_names": fine_names, b"coarse_label_names": coarse_names}, 2))


# The first training image of the real CIFAR-10 JPEG folder, when this machine has it.
def record_cifar10_jpeg():
    folder = os.path.join(HERE, "../../../../shared/data/cifar10-jpeg")
    path = os.path.join(folder, "train/airplane/0000.jpg")
    if not os.path.exists(path):
        return
    decoded = np.asarray(Image.open(path).convert("RGB"))
    record = {"file": "train/airplane/0000.jpg", "width": decoded.shape[1], "height": decoded.shape[0],
              "hwc": decoded.reshape(-1).tolist()}
    write("cifar10_jpeg_first_train.json", json.dumps(record).encode())


make_resize()
make_images()
record_cifar10_jpeg()
make_mnist()
make_cifar_pickles()
