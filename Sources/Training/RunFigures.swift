import Foundation
import Probes
import Reports

/// The charts of a run: gradient norm per epoch and probe, loss and accuracy, and a
/// layer-by-epoch heatmap of gradient RMS.
struct RunFigures {
    let gradients: LineChart
    let loss: ChartFigure
    let heatmap: Heatmap?

    init(results: [EpochResult], forwardOrder: [String], title: String) {
        let series = forwardOrder.map { probe -> Series in
            let values = results.map { result in
                result.probes.first { $0.probe == probe }?[.gradOutputL2]?.mean ?? .nan
            }
            let path = results.last?.probes.first { $0.probe == probe }?.path ?? probe
            let label = path == probe ? probe : "\(probe) (\(path))"
            return Series(name: label, values: values)
        }
        gradients = LineChart(
            title: "Average gradient norm per epoch — \(title)", xLabel: "epoch",
            yLabel: "mean ‖grad_output‖ (L2, per batch)", series: series, logScaleY: true)

        let epochs = results.map { Double($0.epoch) }
        func line(_ name: String, _ values: [Double?]) -> Series? {
            let points = zip(epochs, values).compactMap { epoch, value in value.map { (x: epoch, y: $0) } }
            return points.isEmpty ? nil : Series(name: name, points: points)
        }
        // Panels of 520 x 380 points keep their labels readable when the report scales the
        // two-panel figure to the page width.
        let lossChart = LineChart(
            title: "Loss", xLabel: "epoch", yLabel: "cross-entropy",
            series: [line("train", results.map(\.trainLoss)), line("test", results.map(\.testLoss))].compactMap { $0 },
            width: 520, height: 380)
        let accuracyChart = LineChart(
            title: "Accuracy", xLabel: "epoch", yLabel: "fraction correct",
            series: [line("train", results.map(\.trainAccuracy)), line("test", results.map(\.testAccuracy))].compactMap { $0 },
            yRange: 0...1, width: 520, height: 380)
        loss = ChartFigure(panels: [lossChart, accuracyChart], columns: 2)

        if forwardOrder.count >= 2 && !results.isEmpty {
            let rows = forwardOrder.map { probe in
                results.map { result in result.probes.first { $0.probe == probe }?[.gradOutputRMS]?.mean ?? .nan }
            }
            heatmap = Heatmap(
                title: "Gradient RMS by layer and epoch — \(title)", xLabel: "epoch", rowLabels: forwardOrder,
                columnLabels: results.map { String($0.epoch) }, values: rows, valueLabel: "mean grad_output RMS")
        } else {
            heatmap = nil
        }
    }

    func write(to directory: RunDirectory) throws {
        try gradients.write(to: directory.gradientsPNG)
        try gradients.write(to: directory.gradientsSVG)
        try loss.write(to: directory.lossPNG)
        if let heatmap, heatmap.values.contains(where: { $0.contains { $0 > 0 && $0.isFinite } }) {
            try heatmap.write(to: directory.heatmapPNG)
            try heatmap.write(to: directory.heatmapSVG)
        }
    }
}
