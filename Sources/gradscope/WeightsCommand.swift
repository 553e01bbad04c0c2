import Checkpoints
import Foundation

struct WeightsCommand: Command {
    let spec = CommandSpec(
        name: "weights", abstract: "List the tensors (name, dtype, shape) of a .pth or .safetensors file.",
        positionals: [("FILE", "A PyTorch checkpoint (zip or legacy format) or a safetensors file.", false, false)],
        options: [])

    func run(_ arguments: ParsedArguments) throws {
        let archive = try loadTensorArchive(at: URL(fileURLWithPath: arguments.positionals[0]))
        emit(archive.formattedListing())
    }
}
