/// A pair of sizes along height and width.
public struct Size2: Equatable, Hashable, Codable, Sendable, CustomStringConvertible {
    public var height: Int
    public var width: Int

    public init(_ height: Int, _ width: Int) {
        self.height = height
        self.width = width
    }

    /// The same size along both axes.
    public init(_ both: Int) {
        self.init(both, both)
    }

    public var description: String { height == width ? "\(height)" : "(\(height), \(width))" }
}
