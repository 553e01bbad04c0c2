import Foundation
import Probes
import Reports

/// The charts of a run: gradient norm per epoch and probe, loss and accuracy, a layer-by-epoch
/// heatmap of gradient RMS and, with three or more probes, gradient RMS against depth.
struct RunFigures {
    let gradients: LineChart
    let loss: ChartFigure
    let heatmap: Heatmap?
    let depth: LineChart?

    /// More probes than this get one line each for an evenly spread selection in `gradients`;
    /// the heatmap and the depth chart show every probe.
    static let maximumLines = 8

    /// At most `count` items spread evenly over `items`, always keeping the first and the last.
    static func spread<Item>(_ items: [Item], count: Int) -> [Item] {
        guard items.count > count, count >= 2 else {
            return items
        }
        return (0..<count).map { items[Int((Double($0) * Double(items.count - 1) / Double(count - 1)).rounded())] }
    }

    init(results: [EpochResult], forwardOrder: [String], title: String) {
        let shown = RunFigures.spread(forwardOrder, count: RunFigures.maximumLines)
        let series = shown.map { probe -> Series in
            let values = results.map { result in
                result.probes.first { $0.probe == probe }?[.gradOutputL2]?.mean ?? .nan
            }
            let path = results.last?.probes.first { $0.probe == probe }?.path ?? probe
            let label = path == probe ? probe : "\(probe) (\(path))"
            return Series(name: label, values: values)
        }
        let selection = shown.count < forwardOrder.count ? " (\(shown.count) of \(forwardOrder.count) probes)" : ""
        gradients = LineChart(
            title: "Average gradient norm per epoch — \(title)\(selection)", xLabel: "epoch",
            yLabel: "mean ‖grad_output‖ (L2, per batch)", series: series, logScaleY: true)

        if forwardOrder.count >= 3 && !results.isEmpty {
            let epochs = RunFigures.spread(results, count: 3)
            let depthSeries = epochs.map { result in
                Series(name: "epoch \(result.epoch)", points: forwardOrder.enumerated().map { index, probe in
                    (x: Double(index), y: result.probes.first { $0.probe == probe }?[.gradOutputRMS]?.mean ?? .nan)
                })
            }
            depth = LineChart(
                title: "Gradient RMS through depth — \(title)", xLabel: "probed layer (forward order)",
                yLabel: "mean gradient RMS", series: depthSeries, logScaleY: true, xTickLabels: forwardOrder,
                width: 1000, height: 560)
        } else {
            depth = nil
        }

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
        if let depth {
            try depth.write(to: directory.file("depth.png"))
            try depth.write(to: directory.file("depth.svg"))
        }
        try loss.write(to: directory.lossPNG)
        if let heatmap, heatmap.values.contains(where: { $0.contains { $0 > 0 && $0.isFinite } }) {
            try heatmap.write(to: directory.heatmapPNG)
            try heatmap.write(to: directory.heatmapSVG)
        }
    }
}
