import Foundation
import Probes

/// An option of a subcommand: a flag when `valueName` is nil, otherwise it takes one value.
struct OptionSpec {
    var name: String
    var valueName: String?
    var help: String
    var repeatable = false
}

/// A subcommand's name, abstract, positional arguments and options, from which help is printed.
struct CommandSpec {
    var name: String
    var abstract: String
    var positionals: [(name: String, help: String, variadic: Bool, optional: Bool)] = []
    var options: [OptionSpec]
    var discussion: String?

    /// The help text printed by `gradscope NAME --help`.
    var help: String {
        var positionalUsage = positionals.map { positional -> String in
            var text = positional.name
            if positional.variadic {
                text += "..."
            }
            return positional.optional ? "[\(text)]" : text
        }
        if !options.isEmpty {
            positionalUsage.insert("[options]", at: 0)
        }
        var lines = ["OVERVIEW: \(abstract)", "", "USAGE: gradscope \(name) \(positionalUsage.joined(separator: " "))"]
        if !positionals.isEmpty {
            lines += ["", "ARGUMENTS:"]
            for positional in positionals {
                lines.append(formatRow(positional.name, positional.help))
            }
        }
        lines += ["", "OPTIONS:"]
        for option in options {
            let label = option.valueName.map { "\(option.name) \($0)" } ?? option.name
            lines.append(formatRow(label, option.help + (option.repeatable ? " (repeatable)" : "")))
        }
        lines.append(formatRow("-h, --help", "Show this help."))
        if let discussion {
            lines += ["", discussion]
        }
        return lines.joined(separator: "\n")
    }

    private func formatRow(_ label: String, _ text: String) -> String {
        let padded = label.count < 26 ? label.padding(toLength: 26, withPad: " ", startingAt: 0) : label + "\n" + String(repeating: " ", count: 28)
        return "  \(padded)\(text)"
    }
}

/// A mistake on the command line; the command prints it with a pointer to `--help` and exits with 2.
struct UsageError: Error, CustomStringConvertible {
    var message: String
    var command: String
    var description: String { message }
}

/// The arguments of one invocation, checked against a `CommandSpec`.
struct ParsedArguments {
    let command: String
    private(set) var values: [String: [String]] = [:]
    private(set) var flags: Set<String> = []
    private(set) var positionals: [String] = []
    private(set) var helpRequested = false

    /// Parses `arguments` (everything after the subcommand name).
    /// - Throws: `UsageError` for an unknown option (suggesting the closest), a missing value,
    ///   or a non-repeatable option given twice.
    init(_ arguments: [String], spec: CommandSpec) throws {
        command = spec.name
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            if argument == "-h" || argument == "--help" {
                helpRequested = true
                continue
            }
            guard argument.hasPrefix("--") else {
                positionals.append(argument)
                continue
            }
            var name = argument
            var inlineValue: String?
            if let equals = argument.firstIndex(of: "=") {
                name = String(argument[..<equals])
                inlineValue = String(argument[argument.index(after: equals)...])
            }
            guard let option = spec.options.first(where: { $0.name == name }) else {
                let known = spec.options.map(\.name)
                let closest = known.min { ProbeSelection.editDistance($0, name) < ProbeSelection.editDistance($1, name) }
                // Only a near miss is worth suggesting: at most a third of the name's letters differ.
                let nearMiss = closest.flatMap { ProbeSelection.editDistance($0, name) <= max(2, name.count / 3) ? $0 : nil }
                let hint = nearMiss.map { " Did you mean '\($0)'?" } ?? ""
                throw UsageError(message: "unknown option '\(name)' for 'gradscope \(spec.name)'.\(hint)", command: spec.name)
            }
            guard option.valueName != nil else {
                if inlineValue != nil {
                    throw UsageError(message: "\(name) is a flag and takes no value", command: spec.name)
                }
                flags.insert(name)
                continue
            }
            let value: String
            if let inlineValue {
                value = inlineValue
            } else {
                guard index < arguments.count else {
                    throw UsageError(message: "\(name) needs a value (\(option.valueName!))", command: spec.name)
                }
                value = arguments[index]
                index += 1
            }
            if !option.repeatable && values[name] != nil {
                throw UsageError(message: "\(name) was given twice; give it once", command: spec.name)
            }
            values[name, default: []].append(value)
        }

        let required = spec.positionals.filter { !$0.optional }.count
        let variadic = spec.positionals.contains { $0.variadic }
        if !helpRequested && positionals.count < required {
            let missing = spec.positionals[positionals.count].name
            throw UsageError(message: "missing argument \(missing)", command: spec.name)
        }
        if !variadic && positionals.count > spec.positionals.count {
            throw UsageError(message: "unexpected argument '\(positionals[spec.positionals.count])'", command: spec.name)
        }
    }

    func has(_ flag: String) -> Bool {
        flags.contains(flag)
    }

    func isGiven(_ option: String) -> Bool {
        values[option] != nil || flags.contains(option)
    }

    func string(_ option: String) -> String? {
        values[option]?.last
    }

    func strings(_ option: String) -> [String] {
        values[option] ?? []
    }

    func int(_ option: String, range: ClosedRange<Int> = Int.min...Int.max) throws -> Int? {
        guard let text = string(option) else {
            return nil
        }
        guard let value = Int(text) else {
            throw UsageError(message: "\(option) expects a whole number, got '\(text)'", command: command)
        }
        guard range.contains(value) else {
            throw UsageError(message: "\(option) must be between \(range.lowerBound) and \(range.upperBound), got \(value)", command: command)
        }
        return value
    }

    func double(_ option: String, range: ClosedRange<Double> = -Double.greatestFiniteMagnitude...Double.greatestFiniteMagnitude) throws -> Double? {
        guard let text = string(option) else {
            return nil
        }
        guard let value = Double(text), value.isFinite else {
            throw UsageError(message: "\(option) expects a number, got '\(text)'", command: command)
        }
        guard range.contains(value) else {
            throw UsageError(message: "\(option) must be between \(range.lowerBound) and \(range.upperBound), got \(value)", command: command)
        }
        return value
    }

    func choice<Choice: RawRepresentable>(_ option: String, as type: Choice.Type) throws -> Choice? where Choice.RawValue == String, Choice: CaseIterable {
        guard let text = string(option) else {
            return nil
        }
        guard let value = Choice(rawValue: text.lowercased()) else {
            let choices = Choice.allCases.map(\.rawValue).joined(separator: ", ")
            throw UsageError(message: "\(option) must be one of \(choices), got '\(text)'", command: command)
        }
        return value
    }
}
