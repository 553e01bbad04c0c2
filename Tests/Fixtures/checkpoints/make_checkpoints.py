"""Writes the checkpoint and pickle fixtures that CheckpointsTests read.

Made with torch 2.13.0+cpu, numpy 2.4 and safetensors 0.8 (CPU). Run from anywhere:

    /work/venv-torch/bin/python Tests/Fixtures/checkpoints/make_checkpoints.py

Every value below is an exact binary fraction or a small integer, so the Swift tests state the
expected values directly. Rerunning rewrites the files; torch's zip writer stores a random
serialization id, so the bytes of the .pth files change while their contents do not.
"""

import collections
import os
import pickle
import zipfile

import numpy as np
import torch
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))


def path(name):
    return os.path.join(HERE, name)


def features():
    """A dict that exercises strides, offsets, shared storages, every dtype and nesting."""
    base = torch.arange(12, dtype=torch.float32).reshape(3, 4) * 0.5 - 1.0
    nested_source = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    return {
        # Four views of one storage: contiguous, transposed, offset row, strided column.
        "plain": base,
        "transposed": base.t(),
        "row": base[1],
        "column": base[:, 2],
        # A float64 tensor permuted to strides (1, 12, 4) with an offset of 0.
        "permuted": torch.arange(24, dtype=torch.float64).reshape(2, 3, 4).permute(2, 0, 1),
        "half": torch.tensor(
            [1.0, -2.5, 0.333251953125, 65504.0, 2.0**-14, 2.0**-24, -0.0, float("inf")], dtype=torch.float16
        ),
        "bfloat": torch.tensor([1.0, -3.140625, 0.0078125, 98304.0], dtype=torch.bfloat16),
        "double": torch.tensor([0.1, -2.5, 1e-40, 3.0e38], dtype=torch.float64),
        "long": torch.tensor([0, -1, 2**40, 7], dtype=torch.int64),
        "int": torch.tensor([-(2**31), 2**31 - 1, 5], dtype=torch.int32),
        "short": torch.tensor([-(2**15), 2**15 - 1, 3], dtype=torch.int16),
        "char": torch.tensor([-128, 127, -1], dtype=torch.int8),
        "byte": torch.tensor([0, 255, 17], dtype=torch.uint8),
        "flag": torch.tensor([True, False, True]),
        "scalar": torch.tensor(2.5),
        "empty": torch.zeros(0, 3),
        "param": torch.nn.Parameter(torch.tensor([0.25, -0.75])),
        # Flattens to nested.inner.weight: rows 1..2 of the transpose, offset 1, strides (1, 3).
        "nested": {"inner": {"weight": nested_source.t()[1:]}, "count": 3},
        "epoch": 5,
        "note": "fixture",
    }


def module_state_dict():
    """A real OrderedDict state dict, with its _metadata attribute, of Linear + BatchNorm1d."""
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    with torch.no_grad():
        model[0].weight.copy_(torch.arange(6, dtype=torch.float32).reshape(2, 3) * 0.125)
        model[0].bias.copy_(torch.tensor([0.5, -0.5]))
        model[1].weight.copy_(torch.tensor([1.5, 2.0]))
        model[1].bias.copy_(torch.tensor([0.25, 0.0]))
        model[1].running_mean.copy_(torch.tensor([0.125, -0.25]))
        model[1].running_var.copy_(torch.tensor([1.5, 0.75]))
        model[1].num_batches_tracked.fill_(7)
    return model.state_dict()


def rezip_deflated(source, destination):
    """Copies a zip checkpoint with every member deflated, which torch.load also reads."""
    with zipfile.ZipFile(source) as reader, zipfile.ZipFile(destination, "w", zipfile.ZIP_DEFLATED) as writer:
        for info in reader.infolist():
            writer.writestr(info.filename, reader.read(info.filename))


def write_short_storage(destination):
    """A zip checkpoint whose only storage lost its last 8 bytes (two float32 elements)."""
    temporary = destination + ".tmp"
    torch.save({"weight": torch.arange(6, dtype=torch.float32)}, temporary)
    with zipfile.ZipFile(temporary) as reader, zipfile.ZipFile(destination, "w", zipfile.ZIP_STORED) as writer:
        for info in reader.infolist():
            data = reader.read(info.filename)
            if info.filename.endswith("/data/0"):
                data = data[:-8]
            writer.writestr(info.filename, data)
    os.remove(temporary)


def cifar_like_batch():
    """A dict shaped like a CIFAR-10 python batch, plus arrays in other layouts and numpy scalars."""
    return {
        b"batch_label": b"training batch 1 of 1",
        b"labels": [6, 9, 9, 4],
        b"data": (np.arange(48, dtype=np.uint8) * 5).reshape(4, 12),
        b"filenames": [b"a.png", b"b.png", b"c.png", b"d.png"],
        b"fortran": np.asfortranarray(np.arange(6, dtype=np.int16).reshape(2, 3)),
        b"big_endian": np.array([1.5, -2.0, 3.25], dtype=">f4"),
        b"wide": np.array([[0.5, -1.25]], dtype=np.float64),
        b"mean": np.float64(0.5),
        b"count": np.int64(7),
    }


def main():
    torch.manual_seed(0)

    state = features()
    torch.save(state, path("features_zip.pth"))
    torch.save(state, path("features_legacy.pth"), _use_new_zipfile_serialization=False)
    # Protocol 4 adds FRAME, MEMOIZE and STACK_GLOBAL to both formats.
    torch.save(state, path("features_zip_protocol4.pth"), pickle_protocol=4)
    torch.save(state, path("features_legacy_protocol4.pth"), _use_new_zipfile_serialization=False, pickle_protocol=4)
    rezip_deflated(path("features_zip.pth"), path("features_deflated.pth"))

    module_state = module_state_dict()
    torch.save({"state_dict": module_state, "epoch": 3, "optimizer": {"state": {}, "param_groups": [{"lr": 0.1}]}},
               path("wrapped_state_dict.pth"))
    torch.save({"model": module_state, "epoch": 3}, path("wrapped_model_legacy.pth"),
               _use_new_zipfile_serialization=False)
    write_short_storage(path("short_storage.pth"))

    save_file(
        {
            "a_bool": torch.tensor([True, False]),
            "b_u8": torch.tensor([200], dtype=torch.uint8),
            "c_i8": torch.tensor([-5], dtype=torch.int8),
            "d_i16": torch.tensor([-300], dtype=torch.int16),
            "e_f16": torch.tensor([0.5, -2.0], dtype=torch.float16),
            "f_bf16": torch.tensor([1.5], dtype=torch.bfloat16),
            "g_i32": torch.tensor([-70000], dtype=torch.int32),
            "h_f32": torch.tensor([[0.25, 8.0]], dtype=torch.float32),
            "i_f64": torch.tensor([-0.125], dtype=torch.float64),
            "j_i64": torch.tensor([2**40], dtype=torch.int64),
        },
        path("all_dtypes.safetensors"),
        metadata={"source": "make_checkpoints.py"},
    )

    batch = cifar_like_batch()
    for protocol in (2, 4, 5):
        with open(path(f"cifar_like_protocol{protocol}.pkl"), "wb") as handle:
            pickle.dump(batch, handle, protocol=protocol)


if __name__ == "__main__":
    main()
