import Foundation
import Probes
import Training

// gradscope: the command line. Parses arguments, runs one subcommand, and turns errors into one
// clear line and an exit code (0 success, 1 failure, 2 usage error, 130 interrupted).

InterruptMonitor.shared.start()

let commands: [Command] = [TrainCommand(), ProfileCommand(), CompareCommand(), InspectCommand(), ModelsCommand(), WeightsCommand()]

let generalHelp = """
    OVERVIEW: GradScope trains deep networks and shows, layer by layer, how gradients flow through them.

    USAGE: gradscope <subcommand> [options]

    SUBCOMMANDS:
    \(commands.map { "  " + $0.spec.name.padding(toLength: 10, withPad: " ", startingAt: 0) + $0.spec.abstract }.joined(separator: "\n"))

    Run 'gradscope <subcommand> --help' for the options of one subcommand.
    """

func writeError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

let arguments = Array(CommandLine.arguments.dropFirst())
guard let first = arguments.first, first != "--help", first != "-h", first != "help" else {
    print(generalHelp)
    exit(arguments.isEmpty ? 2 : 0)
}
if first == "--version" {
    print("gradscope \(gradScopeVersion)")
    exit(0)
}
guard let command = commands.first(where: { $0.spec.name == first }) else {
    let closest = commands.map(\.spec.name).min { ProbeSelection.editDistance($0, first) < ProbeSelection.editDistance($1, first) }!
    let hint = ProbeSelection.editDistance(closest, first) <= 2 ? " Did you mean '\(closest)'?" : ""
    writeError("gradscope: error: unknown subcommand '\(first)'.\(hint) Run 'gradscope --help' to list the subcommands.")
    exit(2)
}

do {
    let parsed = try ParsedArguments(Array(arguments.dropFirst()), spec: command.spec)
    if parsed.helpRequested {
        print(command.spec.help)
        exit(0)
    }
    try command.run(parsed)
} catch let error as UsageError {
    writeError("gradscope \(error.command): error: \(error.message)\nRun 'gradscope \(error.command) --help' for the options.")
    exit(2)
} catch let error as CommandExit {
    exit(error.code)
} catch {
    writeError("gradscope \(command.spec.name): error: \(error)")
    exit(1)
}
