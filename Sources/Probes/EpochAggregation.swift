import Foundation

/// Order statistics of one metric over an epoch's batches, ignoring NaN (metrics that did not apply).
public struct MetricSummary: Equatable, Codable, Sendable {
    public var mean: Double
    public var median: Double
    public var p5: Double
    public var p95: Double
    public var min: Double
    public var max: Double

    /// The column suffixes in `epochs.csv`, in the order of `values`.
    public static let statisticNames = ["mean", "median", "p5", "p95", "min", "max"]

    public var values: [Double] { [mean, median, p5, p95, min, max] }

    /// Summarises `samples`; every statistic is NaN when no sample is a number. Infinite samples
    /// are kept, so a run that blew up shows it.
    public init(_ samples: [Double]) {
        let sorted = samples.filter { !$0.isNaN }.sorted()
        guard !sorted.isEmpty else {
            self.init(mean: .nan, median: .nan, p5: .nan, p95: .nan, min: .nan, max: .nan)
            return
        }
        self.init(
            mean: sorted.reduce(0, +) / Double(sorted.count),
            median: MetricSummary.percentile(sorted, 50),
            p5: MetricSummary.percentile(sorted, 5),
            p95: MetricSummary.percentile(sorted, 95),
            min: sorted.first!,
            max: sorted.last!)
    }

    public init(mean: Double, median: Double, p5: Double, p95: Double, min: Double, max: Double) {
        self.mean = mean
        self.median = median
        self.p5 = p5
        self.p95 = p95
        self.min = min
        self.max = max
    }

    /// The `percent` percentile of sorted values with linear interpolation between closest ranks
    /// (numpy's default method).
    public static func percentile(_ sorted: [Double], _ percent: Double) -> Double {
        precondition(!sorted.isEmpty, "percentile of no values")
        let position = percent / 100 * Double(sorted.count - 1)
        let lower = Int(position.rounded(.down))
        let upper = Swift.min(lower + 1, sorted.count - 1)
        let fraction = position - Double(lower)
        if fraction == 0 {
            return sorted[lower]
        }
        return sorted[lower] + (sorted[upper] - sorted[lower]) * fraction
    }
}

/// One probe's summaries over one epoch.
public struct ProbeEpochSummary: Equatable, Codable, Sendable {
    public var probe: String
    public var path: String
    public var metrics: [Metric: MetricSummary]

    public init(probe: String, path: String, metrics: [Metric: MetricSummary]) {
        self.probe = probe
        self.path = path
        self.metrics = metrics
    }

    public subscript(_ metric: Metric) -> MetricSummary? { metrics[metric] }

    private enum CodingKeys: String, CodingKey {
        case probe, path, metrics
    }

    /// Encodes as the synthesized conformance would, with the metrics in a fixed order.
    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(probe, forKey: .probe)
        try container.encode(path, forKey: .path)
        var metricsContainer = container.nestedUnkeyedContainer(forKey: .metrics)
        try metricsContainer.encode(inMetricOrder: metrics)
    }
}

/// Loss and accuracy of one epoch, with the test split's when one was evaluated.
public struct EpochResult: Equatable, Codable, Sendable {
    public var epoch: Int
    public var trainLoss: Double
    public var trainAccuracy: Double
    public var testLoss: Double?
    public var testAccuracy: Double?
    public var probes: [ProbeEpochSummary]

    public init(epoch: Int, trainLoss: Double, trainAccuracy: Double, testLoss: Double?, testAccuracy: Double?, probes: [ProbeEpochSummary]) {
        self.epoch = epoch
        self.trainLoss = trainLoss
        self.trainAccuracy = trainAccuracy
        self.testLoss = testLoss
        self.testAccuracy = testAccuracy
        self.probes = probes
    }
}

/// Collects one epoch's per-batch probe records and summarises them.
public struct EpochAccumulator: Codable, Sendable {
    private var samples: [String: [Metric: [Double]]] = [:]
    private var order: [ProbeTarget] = []

    public init() {}

    /// Adds one batch's records.
    public mutating func add(_ records: [ProbeRecord]) {
        for record in records {
            if samples[record.probe] == nil {
                order.append(ProbeTarget(path: record.path, name: record.probe))
                samples[record.probe] = [:]
            }
            for metric in Metric.allCases {
                samples[record.probe]![metric, default: []].append(record[metric])
            }
        }
    }

    private enum CodingKeys: String, CodingKey {
        case samples, order
    }

    /// Encodes as the synthesized conformance would, with each probe's metrics in a fixed order.
    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        var samplesContainer = container.nestedContainer(keyedBy: ProbeNameKey.self, forKey: .samples)
        for (probe, metrics) in samples {
            var metricsContainer = samplesContainer.nestedUnkeyedContainer(forKey: ProbeNameKey(probe))
            try metricsContainer.encode(inMetricOrder: metrics)
        }
        try container.encode(order, forKey: .order)
    }

    /// The summaries of every probe seen, in the order they first appeared.
    public func summaries() -> [ProbeEpochSummary] {
        order.map { target in
            let metrics = samples[target.name]!.mapValues { MetricSummary($0) }
            return ProbeEpochSummary(probe: target.name, path: target.path, metrics: metrics)
        }
    }
}

/// A probe's name as a key of a JSON object.
private struct ProbeNameKey: CodingKey {
    let stringValue: String
    var intValue: Int? { nil }

    init(_ name: String) {
        stringValue = name
    }

    init?(stringValue: String) {
        self.stringValue = stringValue
    }

    init?(intValue: Int) {
        nil
    }
}

extension UnkeyedEncodingContainer {
    /// Encodes `dictionary` as Swift encodes a dictionary whose keys are not strings, alternating
    /// keys and values, but in the order of `Metric.allCases` instead of the hash order, which
    /// changes from process to process. The same values then always give the same bytes, and the
    /// synthesized decoder reads them back.
    mutating func encode<Value: Encodable>(inMetricOrder dictionary: [Metric: Value]) throws {
        for metric in Metric.allCases {
            if let value = dictionary[metric] {
                try encode(metric)
                try encode(value)
            }
        }
    }
}
