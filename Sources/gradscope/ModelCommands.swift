import Foundation
import NeuralNetworks
import Tensors

struct ModelsCommand: Command {
    let spec = CommandSpec(name: "models", abstract: "List the models GradScope can build.", options: [])

    func run(_ arguments: ParsedArguments) throws {
        for name in ModelCatalog.names {
            emit(name.padding(toLength: 12, withPad: " ", startingAt: 0) + ModelCatalog.summary(of: name))
        }
    }
}

struct InspectCommand: Command {
    let spec = CommandSpec(
        name: "inspect", abstract: "Print a model's modules with paths, settings, output shapes and parameter counts.",
        positionals: [("MODEL", "A model name from 'gradscope models'.", false, false)],
        options: [
            OptionSpec(name: "--num-classes", valueName: "K", help: "Classes of the final layer (default 10)."),
            OptionSpec(name: "--image-size", valueName: "S", help: "Input height and width in pixels for the output shapes (default 32)."),
            OptionSpec(name: "--no-skip", help: "ResNets: build without skip connections."),
            OptionSpec(name: "--depth", valueName: "N", help: "MLP: number of linear layers (default 20)."),
            OptionSpec(name: "--width", valueName: "N", help: "MLP: width of the hidden layers (default 256)."),
            OptionSpec(name: "--activation", valueName: "NAME", help: "MLP: relu, sigmoid or tanh (default sigmoid)."),
        ])

    func run(_ arguments: ParsedArguments) throws {
        let imageSize = try arguments.int("--image-size", range: 1...4096) ?? 32
        var specification = ModelSpecification(name: arguments.positionals[0])
        specification.numClasses = try arguments.int("--num-classes", range: 1...1_000_000) ?? 10
        specification.skipConnections = !arguments.has("--no-skip")
        specification.depth = try arguments.int("--depth", range: 1...10_000) ?? specification.depth
        specification.width = try arguments.int("--width", range: 1...1_000_000) ?? specification.width
        specification.activation = try arguments.choice("--activation", as: Activation.self) ?? specification.activation
        specification.inputShape = [3, imageSize, imageSize]

        let minimum = specification.name.hasPrefix("vgg") ? 32 : 1
        guard imageSize >= minimum else {
            throw UsageError(message: "--image-size must be at least \(minimum) for \(specification.name) (five 2x2 max-pools), got \(imageSize)", command: spec.name)
        }

        var generator = RandomGenerator(seed: 0)
        let model = try ModelCatalog.makeModel(specification, generator: &generator)
        let rows = model.summary(inputShape: [1, 3, imageSize, imageSize])

        let layerWidth = min(60, rows.map { $0.path.count + 2 * $0.depth }.max() ?? 10) + 2
        emit("\(specification.name) for input [1, 3, \(imageSize), \(imageSize)]\(specification.skipConnections ? "" : ", without skip connections")")
        emit("")
        emit("path".padding(toLength: layerWidth, withPad: " ", startingAt: 0) + "output shape".padding(toLength: 22, withPad: " ", startingAt: 0) + "parameters".leftPadded(to: 13) + "  type")
        for row in rows.dropFirst() {
            let indent = String(repeating: "  ", count: row.depth - 1)
            let shape = row.outputShape.map { "\($0)" } ?? "(not called)"
            let owned = row.parameterCount > 0 ? grouped(row.parameterCount) : "-"
            emit((indent + row.path).padding(toLength: layerWidth, withPad: " ", startingAt: 0) + shape.padding(toLength: 22, withPad: " ", startingAt: 0) + owned.leftPadded(to: 13) + "  " + row.type)
        }
        emit("")
        emit("total parameters: \(grouped(model.parameterCount)) (all trainable)")
    }
}

/// An integer with thousands separators, e.g. 139,611,210.
func grouped(_ value: Int) -> String {
    let digits = String(value)
    var result = ""
    for (index, character) in digits.enumerated() {
        if index > 0 && (digits.count - index) % 3 == 0 {
            result.append(",")
        }
        result.append(character)
    }
    return result
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
