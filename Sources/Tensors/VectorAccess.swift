extension SIMD8 where Scalar == Float {
    /// Loads eight consecutive values, with no alignment requirement.
    @inlinable
    public init(loadingFrom pointer: UnsafePointer<Float>) {
        self = UnsafeRawPointer(pointer).loadUnaligned(as: SIMD8<Float>.self)
    }

    /// Stores the eight values at `pointer`, with no alignment requirement.
    @inlinable
    public func store(to pointer: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(pointer).storeBytes(of: self, as: SIMD8<Float>.self)
    }
}
