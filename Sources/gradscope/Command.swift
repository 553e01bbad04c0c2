import Foundation

/// A subcommand of `gradscope`.
protocol Command {
    var spec: CommandSpec { get }
    func run(_ arguments: ParsedArguments) throws
}

/// Ends the program with `code` after the command has already printed what it had to say.
struct CommandExit: Error {
    var code: Int32
}

/// Writes one line to standard output.
func emit(_ line: String) {
    print(line)
}
