import Foundation
import Probes
import Training

/// Shows training progress on standard error: one updating line on a terminal, a plain line
/// every 15 seconds otherwise (logs, pipes, CI).
final class ProgressDisplay: TrainingObserver {
    private let isTerminal = isatty(FileHandle.standardError.fileDescriptor) != 0
    private var lastPlainLine = Date.distantPast
    private var lineOpen = false

    func notice(_ message: String) {
        finishLine()
        write("gradscope: \(message)\n")
    }

    func batchFinished(_ progress: BatchProgress) {
        let loss = progress.loss.isFinite ? String(format: "%.4f", progress.loss) : (progress.loss.isNaN ? "nan" : "\(progress.loss)")
        let text = String(
            format: "epoch %d/%d  batch %d/%d  loss %@  %.1f img/s  %@ left",
            progress.epoch, progress.epochs, progress.batch, progress.batchCount, loss,
            progress.imagesPerSecond, duration(progress.secondsLeft))
        if isTerminal {
            write("\r\u{1B}[K" + text)
            lineOpen = true
        } else if Date().timeIntervalSince(lastPlainLine) >= 15 || progress.batch == progress.batchCount {
            write(text + "\n")
            lastPlainLine = Date()
        }
    }

    func epochFinished(_ result: EpochResult, of epochs: Int) {
        finishLine()
        var text = "epoch \(result.epoch)/\(epochs): train loss \(String(format: "%.4f", result.trainLoss)), accuracy \(String(format: "%.1f%%", result.trainAccuracy * 100))"
        if let testLoss = result.testLoss, let testAccuracy = result.testAccuracy {
            text += "; test loss \(String(format: "%.4f", testLoss)), accuracy \(String(format: "%.1f%%", testAccuracy * 100))"
        }
        let norms = result.probes.compactMap { probe in probe[.gradOutputL2].map { "\(probe.probe) \(Diagnosis.format($0.mean))" } }
        write(text + "\n  mean grad norm: " + norms.joined(separator: ", ") + "\n")
    }

    /// Ends an open progress line so the next message starts on its own line.
    func finishLine() {
        if lineOpen {
            write("\n")
            lineOpen = false
        }
    }

    private func write(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }

    private func duration(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0 else {
            return "?"
        }
        let total = Int(seconds.rounded())
        if total >= 3600 {
            return String(format: "%dh%02dm", total / 3600, (total % 3600) / 60)
        }
        return String(format: "%dm%02ds", total / 60, total % 60)
    }
}
