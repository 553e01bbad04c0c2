import Foundation

/// Tick positions of a linear axis.
public struct LinearTicks: Equatable {
    /// The axis range, which contains every tick.
    public var lower: Double
    public var upper: Double
    /// The distance between ticks: 1, 2, 2.5 or 5 times a power of ten (at least 1 for
    /// integer axes).
    public var step: Double
    /// The tick values, lowest first.
    public var values: [Double]

    /// Chooses at most `maximumCount` evenly spaced ticks inside `lower...upper`.
    ///
    /// A zero-width range is widened by 1 on each side (by 10% of the value's magnitude when
    /// that is larger), so a single value still gets an axis. With `integerStep` the step is
    /// never below 1, as for epoch numbers and layer indices.
    ///
    /// - Precondition: `lower <= upper`, both finite, and `maximumCount >= 2`.
    public static func compute(
        lower: Double, upper: Double, maximumCount: Int, integerStep: Bool = false
    ) -> LinearTicks {
        precondition(lower.isFinite && upper.isFinite, "lower and upper must be finite, got \(lower) and \(upper)")
        precondition(lower <= upper, "lower must not exceed upper, got \(lower) > \(upper)")
        precondition(maximumCount >= 2, "maximumCount must be at least 2, got \(maximumCount)")

        var low = lower
        var high = upper
        if low == high {
            let widening = max(1, abs(low) * 0.1)
            low -= widening
            high += widening
        }

        var step = NiceStep(atLeast: (high - low) / Double(maximumCount - 1))
        if integerStep {
            step = step.nextIntegral()
        }

        // The first step that fits can still give one tick too many when both ends land on
        // multiples of it, so larger steps are tried until the count fits.
        while true {
            let first = (low / step.value).rounded(.up)
            let last = (high / step.value).rounded(.down)
            if last - first + 1 <= Double(maximumCount) {
                let values = stride(from: first, through: last, by: 1).map { index in
                    normalizeZero(step.multiple(index))
                }
                return LinearTicks(lower: low, upper: high, step: step.value, values: values)
            }
            step = step.next()
            if integerStep {
                step = step.nextIntegral()
            }
        }
    }

    /// Formats `value` with as many decimals as the step needs (`0.25` needs two), in
    /// scientific notation for magnitudes of 100000 and above or steps below 0.0001.
    public func label(for value: Double) -> String {
        let magnitude = max(abs(lower), abs(upper))
        if magnitude >= 1e5 || step < 1e-4 {
            return compactScientific(value)
        }

        var decimals = max(0, Int(-floor(log10(step) + 1e-9)))
        let scaled = step * pow(10, Double(decimals))
        if abs(scaled - scaled.rounded()) > 1e-6 {
            decimals += 1
        }
        return String(format: "%.\(decimals)f", normalizeZero(value))
    }
}

/// A tick step of 1, 2, 2.5 or 5 times 10^exponent. Tick values are computed from these
/// integers so that, for example, the third tick of step 0.2 is exactly the double 0.6.
struct NiceStep {
    static let mantissas = [1.0, 2.0, 2.5, 5.0]

    var mantissaIndex: Int
    var exponent: Int

    /// Creates the smallest nice step that is at least `minimum`.
    init(atLeast minimum: Double) {
        precondition(minimum > 0 && minimum.isFinite, "minimum must be positive and finite, got \(minimum)")
        exponent = Int(floor(log10(minimum)))
        mantissaIndex = 0
        while value < minimum * (1 - 1e-12) {
            self = next()
        }
    }

    var value: Double {
        multiple(1)
    }

    /// `index` times the step, rounded once.
    func multiple(_ index: Double) -> Double {
        let scaled = index * Self.mantissas[mantissaIndex]
        if exponent >= 0 {
            return scaled * LogTicks.powerOfTen(exponent)
        }
        return scaled / LogTicks.powerOfTen(-exponent)
    }

    /// Returns the next larger nice step.
    func next() -> NiceStep {
        var step = self
        step.mantissaIndex += 1
        if step.mantissaIndex == Self.mantissas.count {
            step.mantissaIndex = 0
            step.exponent += 1
        }
        return step
    }

    /// This step if it is a whole number of at least 1, else the next such nice step.
    func nextIntegral() -> NiceStep {
        var step = self
        while step.exponent < 0 || step.value != step.value.rounded() {
            step = step.next()
        }
        return step
    }
}

/// Tick positions of a base-10 logarithmic axis.
public struct LogTicks: Equatable {
    /// The axis range in decades: it runs from 10^lowerExponent to 10^upperExponent.
    public var lowerExponent: Int
    public var upperExponent: Int
    /// Labelled ticks, whole powers of ten, lowest first.
    public var major: [Double]
    /// Unlabelled ticks, lowest first: 2…9 times each power of ten when the axis spans at most
    /// `maximumMajorCount` decades, else the powers of ten that are not labelled.
    public var minor: [Double]

    /// Snaps `minimum...maximum` outwards to whole decades and places the ticks.
    ///
    /// A range inside one decade is widened to the decade that contains it. When more than
    /// `maximumMajorCount` decades would be labelled, every k-th decade (a multiple of k) is.
    ///
    /// - Precondition: `0 < minimum <= maximum`, both finite.
    public static func compute(minimum: Double, maximum: Double, maximumMajorCount: Int = 8) -> LogTicks {
        precondition(
            minimum > 0 && minimum.isFinite && maximum.isFinite,
            "minimum and maximum must be positive and finite, got \(minimum) and \(maximum)")
        precondition(minimum <= maximum, "minimum must not exceed maximum, got \(minimum) > \(maximum)")
        precondition(maximumMajorCount >= 2, "maximumMajorCount must be at least 2, got \(maximumMajorCount)")

        let lower = floorExponent(minimum)
        var upper = ceilExponent(maximum)
        if upper == lower {
            upper += 1
        }

        let decades = upper - lower
        let stride = max(1, Int((Double(decades + 1) / Double(maximumMajorCount)).rounded(.up)))
        var major: [Double] = []
        var minor: [Double] = []
        for exponent in lower...upper {
            if exponent.isMultiple(of: stride) {
                major.append(powerOfTen(exponent))
            } else {
                minor.append(powerOfTen(exponent))
            }
            if stride == 1 && exponent < upper {
                for multiple in 2...9 {
                    minor.append(Double("\(multiple)e\(exponent)")!)
                }
            }
        }
        return LogTicks(lowerExponent: lower, upperExponent: upper, major: major, minor: minor)
    }

    /// 10^exponent, correctly rounded (parsed from its decimal text).
    static func powerOfTen(_ exponent: Int) -> Double {
        Double("1e\(exponent)")!
    }

    /// Returns the largest k with 10^k <= value.
    static func floorExponent(_ value: Double) -> Int {
        var exponent = Int(floor(log10(value)))
        while powerOfTen(exponent) > value {
            exponent -= 1
        }
        while powerOfTen(exponent + 1) <= value {
            exponent += 1
        }
        return exponent
    }

    /// Returns the smallest k with 10^k >= value.
    static func ceilExponent(_ value: Double) -> Int {
        var exponent = Int(ceil(log10(value)))
        while powerOfTen(exponent) < value {
            exponent += 1
        }
        while powerOfTen(exponent - 1) >= value {
            exponent -= 1
        }
        return exponent
    }
}

/// Builds a tick label of the form 10 with a raised exponent, such as 10⁻⁶, or 2×10⁻⁶ for a
/// `mantissa` other than 1.
func powerOfTenLabel(_ exponent: Int, mantissa: Int = 1) -> [TextRun] {
    let exponentText = exponent < 0 ? "\u{2212}\(-exponent)" : "\(exponent)"
    let base = mantissa == 1 ? "10" : "\(mantissa)\u{00D7}10"
    return [TextRun(text: base), TextRun(text: exponentText, scale: 0.7, rise: 0.45)]
}

/// Formats `value` with three significant digits as `%g` does, but writes the exponent
/// without a plus sign or leading zeros: 5e5 rather than 5e+05.
func compactScientific(_ value: Double) -> String {
    let text = String(format: "%.3g", value)
    guard let marker = text.firstIndex(of: "e") else {
        return text
    }

    let mantissa = text[..<marker]
    var exponent = text[text.index(after: marker)...]
    var sign = ""
    if exponent.first == "-" {
        sign = "-"
    }
    exponent = exponent.drop { $0 == "+" || $0 == "-" || $0 == "0" }
    return "\(mantissa)e\(sign)\(exponent.isEmpty ? "0" : exponent)"
}

private func normalizeZero(_ value: Double) -> Double {
    value == 0 ? 0 : value
}
