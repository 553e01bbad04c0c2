import Checkpoints
import Foundation
import Tensors
import TestSupport
import XCTest

final class SafetensorsTests: XCTestCase {
    /// The fixture safetensors contains the .pth state dict plus `input` and `labels`, and every shared tensor matches bit for bit.
    func testFixturesMatchPyTorchCheckpoints() throws {
        for fixture in ["fixture_mini_vgg", "fixture_mini_resnet"] {
            let safetensors = try loadTensorArchive(at: Fixtures.url("\(fixture).safetensors"))
            let checkpoint = try loadTensorArchive(at: Fixtures.url("\(fixture).pth"))
            XCTAssertEqual(safetensors.format, .safetensors)
            XCTAssertEqual(checkpoint.format, .torchZip)

            XCTAssertEqual(Set(safetensors.names), Set(checkpoint.names).union(["input", "labels"]), fixture)
            XCTAssertEqual(safetensors["input"]?.dtype, .f32, fixture)
            XCTAssertEqual(safetensors["input"]?.shape, [4, 3, 32, 32], fixture)
            XCTAssertEqual(safetensors["labels"]?.dtype, .i64, fixture)
            XCTAssertEqual(safetensors["labels"]?.shape, [4], fixture)
            XCTAssertEqual(safetensors.metadata["fixture"], String(fixture.dropFirst("fixture_".count)))

            for tensor in checkpoint.tensors {
                let twin = try XCTUnwrap(safetensors[tensor.name], "\(fixture): \(tensor.name)")
                XCTAssertEqual(twin.dtype, tensor.dtype, "\(fixture): \(tensor.name)")
                XCTAssertEqual(twin.shape, tensor.shape, "\(fixture): \(tensor.name)")
                XCTAssertEqual(rawBytes(twin), rawBytes(tensor), "\(fixture): \(tensor.name)")
            }
        }
    }

    func testNumBatchesTrackedIsInt64() throws {
        let archive = try loadTensorArchive(at: Fixtures.url("fixture_mini_resnet.pth"))
        let counters = archive.tensors.filter { $0.name.hasSuffix("num_batches_tracked") }

        XCTAssertEqual(counters.count, 12)
        for counter in counters {
            XCTAssertEqual(counter.dtype, .i64, counter.name)
            XCTAssertEqual(counter.shape, [], counter.name)
            XCTAssertEqual(counter.integerValues(), [0], counter.name)
        }
    }

    func testFixtureValuesAgreeWithJSON() throws {
        let archive = try readSafetensors(at: Fixtures.url("fixture_mini_vgg.safetensors"))
        let json = try Fixtures.json("fixture_mini_vgg.json")
        let labels = try XCTUnwrap(json["labels"] as? [Int])

        XCTAssertEqual(archive["labels"]?.integerValues(), labels.map(Int64.init))
        let weight = try XCTUnwrap(archive["features.0.weight"]).floatTensor()
        let params = try XCTUnwrap(json["params"] as? [String: Any])
        let entry = try XCTUnwrap(params["features.0.weight"] as? [String: Any])
        let expectedNorm = try XCTUnwrap(entry["norm_before"] as? Double)
        let norm = weight.scalars.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
        XCTAssertEqual(norm, expectedNorm, accuracy: expectedNorm * 1e-10)
    }

    func testAllDTypesFromReferenceWriter() throws {
        let archive = try readSafetensors(at: checkpointFixture("all_dtypes.safetensors"))

        XCTAssertEqual(archive.names, ["j_i64", "i_f64", "h_f32", "g_i32", "f_bf16", "e_f16", "d_i16", "c_i8", "b_u8", "a_bool"])
        XCTAssertEqual(archive.metadata, ["source": "make_checkpoints.py"])
        XCTAssertEqual(archive["a_bool"]?.integerValues(), [1, 0])
        XCTAssertEqual(archive["b_u8"]?.integerValues(), [200])
        XCTAssertEqual(archive["c_i8"]?.integerValues(), [-5])
        XCTAssertEqual(archive["d_i16"]?.integerValues(), [-300])
        XCTAssertEqual(try archive["e_f16"]?.floatTensor().scalars, [0.5, -2.0])
        XCTAssertEqual(try archive["f_bf16"]?.floatTensor().scalars, [1.5])
        XCTAssertEqual(archive["g_i32"]?.integerValues(), [-70000])
        XCTAssertEqual(archive["h_f32"]?.shape, [1, 2])
        XCTAssertEqual(try archive["h_f32"]?.floatTensor().scalars, [0.25, 8.0])
        XCTAssertEqual(try archive["i_f64"]?.floatTensor().scalars, [-0.125])
        XCTAssertEqual(archive["j_i64"]?.integerValues(), [1 << 40])
        XCTAssertEqual(try archive["j_i64"]?.floatTensor().scalars, [1_099_511_627_776])
    }

    /// Rewriting a file made by the reference writer reproduces it byte for byte: order, offsets, header padding.
    func testWriterMatchesReferenceBytes() throws {
        let directory = try makeTemporaryDirectory(for: self)
        for source in [checkpointFixture("all_dtypes.safetensors"), Fixtures.url("fixture_mini_vgg.safetensors")] {
            let archive = try readSafetensors(at: source)
            let copy = directory.appendingPathComponent(source.lastPathComponent)

            try writeSafetensors(archive.tensors.reversed(), metadata: archive.metadata, to: copy)

            XCTAssertEqual(try Data(contentsOf: copy), try Data(contentsOf: source), source.lastPathComponent)
        }
    }

    func testSaveThenLoadRoundTrip() throws {
        let directory = try makeTemporaryDirectory(for: self)
        let url = directory.appendingPathComponent("round_trip.safetensors")
        var generator = RandomGenerator(seed: 7)
        let weight = Tensor.randomNormal([3, 2, 5], generator: &generator)
        let bias = Tensor([Float.leastNonzeroMagnitude, -0.0, .infinity, .greatestFiniteMagnitude], shape: [4])
        let scalar = Tensor(scalar: -1.5)
        let empty = Tensor(zeros: [0, 4])

        try saveSafetensors(
            [("layer.weight", weight), ("layer.bias", bias), ("scale", scalar), ("empty", empty)],
            metadata: ["epoch": "3", "note": "quote \" and\nnewline"], to: url)
        let archive = try loadTensorArchive(at: url)

        XCTAssertEqual(archive.names, ["empty", "layer.bias", "layer.weight", "scale"])
        XCTAssertEqual(archive.metadata, ["epoch": "3", "note": "quote \" and\nnewline"])
        for (name, original) in [("layer.weight", weight), ("layer.bias", bias), ("scale", scalar), ("empty", empty)] {
            let loaded = try XCTUnwrap(archive[name]).floatTensor()
            XCTAssertEqual(loaded.shape, original.shape, name)
            XCTAssertEqual(loaded.scalars.map(\.bitPattern), original.scalars.map(\.bitPattern), name)
        }
        let headerLength = try Data(contentsOf: url).prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        XCTAssertEqual(headerLength % 8, 0)
    }

    func testSaveLeavesNoTemporaryFiles() throws {
        let directory = try makeTemporaryDirectory(for: self)
        let url = directory.appendingPathComponent("weights.safetensors")

        try saveSafetensors([("a", Tensor([1, 2], shape: [2]))], metadata: [:], to: url)
        try saveSafetensors([("a", Tensor([3, 4, 5], shape: [3]))], metadata: [:], to: url)

        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), ["weights.safetensors"])
        XCTAssertEqual(try readSafetensors(at: url)["a"]?.floatTensor().scalars, [3, 4, 5])
    }

    func testSaveRejectsDuplicateNames() throws {
        let directory = try makeTemporaryDirectory(for: self)
        let url = directory.appendingPathComponent("duplicate.safetensors")

        assertThrowsCheckpointError(.duplicateName(path: url.path, name: "a")) {
            try saveSafetensors([("a", Tensor([1], shape: [1])), ("a", Tensor([2], shape: [1]))], metadata: [:], to: url)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: url.path))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), [])
    }

    func testLargeFileIsMemoryMappedAndReadable() throws {
        let directory = try makeTemporaryDirectory(for: self)
        let url = directory.appendingPathComponent("large.safetensors")
        let values = (0..<400_000).map { Float($0) * 0.25 }

        try saveSafetensors([("big", Tensor(values, shape: [400, 1000])), ("small", Tensor([7], shape: [1]))], metadata: [:], to: url)
        let archive = try readSafetensors(at: url)

        XCTAssertEqual(try archive["big"]?.floatTensor().scalars, values)
        XCTAssertEqual(try archive["small"]?.floatTensor().scalars, [7])
    }

    func testListingShowsNameDTypeShape() throws {
        let archive = try readSafetensors(at: checkpointFixture("all_dtypes.safetensors"))

        XCTAssertEqual(archive.listing.first, TensorListingEntry(name: "j_i64", dtype: .i64, shape: [1], byteCount: 8))
        let lines = archive.formattedListing().split(separator: "\n")
        XCTAssertEqual(lines.count, 11)
        XCTAssertEqual(lines[0], "j_i64   I64   [1]")
        XCTAssertEqual(lines[2], "h_f32   F32   [1, 2]")
        XCTAssertEqual(lines[10], "10 tensors, 13 elements, 40 bytes")
    }
}
