import CDNNL
import Foundation

// Thin Swift wrappers over oneDNN 2.6's C API: the process-wide engine and stream, the
// primitive cache, memory objects and the reorders between plain tensors and the layouts that
// primitives choose.

/// Argument ids for `dnnl_primitive_execute` (the `DNNL_ARG_*` macros of dnnl_types.h, which
/// Swift does not import because most are aliases of other macros).
enum OneDNNArgument {
    static let source: Int32 = 1
    static let destination: Int32 = 17
    static let weights: Int32 = 33
    static let bias: Int32 = 41
    static let mean: Int32 = 49
    static let variance: Int32 = 50
    static let scale: Int32 = 51
    static let shift: Int32 = 52
    static let workspace: Int32 = 64
    static let diffSource: Int32 = 129
    static let diffDestination: Int32 = 145
    static let diffWeights: Int32 = 161
    static let diffBias: Int32 = 169
    static let diffScale: Int32 = 255
    static let diffShift: Int32 = 256
}

/// Stops the process when a oneDNN call fails. The kernels only pass shapes they have checked,
/// so a failure is a programming error or a configuration oneDNN does not support.
func checkOneDNN(_ status: dnnl_status_t, _ call: @autoclosure () -> String) {
    precondition(status == dnnl_success, "oneDNN call \(call()) failed with status \(status.rawValue)")
}

/// The process-wide oneDNN engine and stream, and the cache of primitives built for each
/// shape and configuration.
///
/// Kernel calls run one at a time under `lock`, because cached plans own scratch buffers that
/// each call reuses. oneDNN still spreads each primitive across all cores with its own threads.
final class OneDNN: @unchecked Sendable {
    static let shared = OneDNN()

    let engine: dnnl_engine_t
    let stream: dnnl_stream_t

    private let lock = NSLock()
    private var plans: [AnyHashable: AnyObject] = [:]

    private init() {
        var engine: dnnl_engine_t?
        checkOneDNN(dnnl_engine_create(&engine, dnnl_cpu, 0), "dnnl_engine_create")
        var stream: dnnl_stream_t?
        checkOneDNN(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags.rawValue), "dnnl_stream_create")
        self.engine = engine!
        self.stream = stream!
    }

    /// Runs `body` with exclusive use of the stream and of the cached plans.
    func withExclusiveAccess<Result>(_ body: () -> Result) -> Result {
        lock.lock()
        defer { lock.unlock() }
        return body()
    }

    /// Returns the plan stored under `key`, created by `make` on first use. Call it only inside
    /// `withExclusiveAccess`.
    func plan<Plan: AnyObject>(for key: AnyHashable, make: () -> Plan) -> Plan {
        if let existing = plans[key] {
            return existing as! Plan
        }
        let created = make()
        plans[key] = created
        return created
    }

    /// Executes `primitive` with the given arguments on the stream and waits for it.
    func execute(_ primitive: dnnl_primitive_t, _ arguments: [(Int32, OneDNNMemory)]) {
        var executionArguments = arguments.map { dnnl_exec_arg_t(arg: $0.0, memory: $0.1.memory) }
        let count = Int32(executionArguments.count)
        let status = executionArguments.withUnsafeMutableBufferPointer { buffer in
            dnnl_primitive_execute(primitive, stream, count, buffer.baseAddress)
        }
        checkOneDNN(status, "dnnl_primitive_execute")
        checkOneDNN(dnnl_stream_wait(stream), "dnnl_stream_wait")
    }
}

/// oneDNN dimensions (`dnnl_dims_t`, a fixed array of 12 values) from a Swift array.
func oneDNNDimensions(_ values: [Int]) -> dnnl_dims_t {
    precondition(values.count <= Int(DNNL_MAX_NDIMS), "oneDNN takes at most \(DNNL_MAX_NDIMS) dimensions, got \(values)")
    var dimensions: dnnl_dims_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    withUnsafeMutableBytes(of: &dimensions) { bytes in
        let elements = bytes.bindMemory(to: dnnl_dim_t.self)
        for (index, value) in values.enumerated() {
            elements[index] = dnnl_dim_t(value)
        }
    }
    return dimensions
}

/// Calls `body` with a pointer to the elements of a `dnnl_dims_t`, the form oneDNN's
/// descriptor functions take for strides, dilations and padding.
func withDimensionPointer<Result>(_ dimensions: inout dnnl_dims_t, _ body: (UnsafePointer<dnnl_dim_t>) -> Result) -> Result {
    withUnsafePointer(to: &dimensions) { tuple in
        tuple.withMemoryRebound(to: dnnl_dim_t.self, capacity: Int(DNNL_MAX_NDIMS)) { elements in
            body(elements)
        }
    }
}

/// Calls `body` with pointers to the elements of three `dnnl_dims_t` values.
func withDimensionPointers<Result>(
    _ first: inout dnnl_dims_t, _ second: inout dnnl_dims_t, _ third: inout dnnl_dims_t,
    _ body: (UnsafePointer<dnnl_dim_t>, UnsafePointer<dnnl_dim_t>, UnsafePointer<dnnl_dim_t>) -> Result
) -> Result {
    withDimensionPointer(&first) { firstElements in
        withDimensionPointer(&second) { secondElements in
            withDimensionPointer(&third) { thirdElements in
                body(firstElements, secondElements, thirdElements)
            }
        }
    }
}

/// Returns a float32 memory descriptor of the given dimensions and format tag. The tag
/// `dnnl_format_tag_any` lets a primitive choose its layout.
func oneDNNMemoryDescriptor(_ dimensions: [Int], _ tag: dnnl_format_tag_t) -> dnnl_memory_desc_t {
    var descriptor = dnnl_memory_desc_t()
    var dims = oneDNNDimensions(dimensions)
    let status = withUnsafePointer(to: &dims) { pointer in
        pointer.withMemoryRebound(to: dnnl_dim_t.self, capacity: Int(DNNL_MAX_NDIMS)) { elements in
            dnnl_memory_desc_init_by_tag(&descriptor, Int32(dimensions.count), elements, dnnl_f32, tag)
        }
    }
    checkOneDNN(status, "dnnl_memory_desc_init_by_tag(\(dimensions))")
    return descriptor
}

/// A primitive descriptor with its primitive, both destroyed together.
final class OneDNNPrimitive {
    let descriptor: dnnl_primitive_desc_t
    let primitive: dnnl_primitive_t

    /// Creates the primitive for an operation descriptor (`dnnl_convolution_desc_t` and the
    /// like); backward primitives pass the forward primitive as `hint`.
    convenience init<OperationDescriptor>(operation: OperationDescriptor, hint: OneDNNPrimitive? = nil, name: String) {
        let (status, descriptor) = Self.describe(operation, hint: hint)
        checkOneDNN(status, "dnnl_primitive_desc_create for \(name)")
        self.init(descriptor: descriptor!, name: name)
    }

    /// Creates the primitive for an operation descriptor, or returns nil when oneDNN has no
    /// implementation of it for this CPU (`dnnl_unimplemented`).
    static func ifImplemented<OperationDescriptor>(
        operation: OperationDescriptor, hint: OneDNNPrimitive? = nil, name: String
    ) -> OneDNNPrimitive? {
        let (status, descriptor) = describe(operation, hint: hint)
        if status == dnnl_unimplemented {
            return nil
        }
        checkOneDNN(status, "dnnl_primitive_desc_create for \(name)")
        return OneDNNPrimitive(descriptor: descriptor!, name: name)
    }

    private static func describe<OperationDescriptor>(
        _ operation: OperationDescriptor, hint: OneDNNPrimitive?
    ) -> (dnnl_status_t, dnnl_primitive_desc_t?) {
        var operation = operation
        var descriptor: dnnl_primitive_desc_t?
        let engine = OneDNN.shared.engine
        let status = withUnsafePointer(to: &operation) { pointer in
            dnnl_primitive_desc_create(&descriptor, UnsafeRawPointer(pointer), nil, engine, hint?.descriptor)
        }
        return (status, descriptor)
    }

    /// Creates a reorder between two layouts of the same tensor.
    convenience init(reorderFrom source: dnnl_memory_desc_t, to destination: dnnl_memory_desc_t) {
        var source = source
        var destination = destination
        var descriptor: dnnl_primitive_desc_t?
        let engine = OneDNN.shared.engine
        let status = dnnl_reorder_primitive_desc_create(&descriptor, &source, engine, &destination, engine, nil)
        checkOneDNN(status, "dnnl_reorder_primitive_desc_create")
        self.init(descriptor: descriptor!, name: "reorder")
    }

    private init(descriptor: dnnl_primitive_desc_t, name: String) {
        var primitive: dnnl_primitive_t?
        checkOneDNN(dnnl_primitive_create(&primitive, descriptor), "dnnl_primitive_create for \(name)")
        self.descriptor = descriptor
        self.primitive = primitive!
    }

    deinit {
        dnnl_primitive_destroy(primitive)
        dnnl_primitive_desc_destroy(descriptor)
    }

    /// Returns the memory descriptor the primitive expects for one of its arguments, such as
    /// `dnnl_query_src_md`.
    func memoryDescriptor(_ query: dnnl_query_t, index: Int32 = 0) -> dnnl_memory_desc_t {
        guard let descriptor = dnnl_primitive_desc_query_md(descriptor, query, index) else {
            preconditionFailure("oneDNN primitive has no memory descriptor for query \(query.rawValue)")
        }
        return descriptor.pointee
    }
}

/// A oneDNN memory object, either owning a buffer oneDNN allocated or pointing at storage
/// bound with `bind` before each use.
final class OneDNNMemory {
    let memory: dnnl_memory_t
    let descriptor: dnnl_memory_desc_t

    /// Creates a memory object. With `allocate` oneDNN allocates a buffer, otherwise `bind` must set one.
    init(_ descriptor: dnnl_memory_desc_t, allocate: Bool) {
        var descriptor = descriptor
        var memory: dnnl_memory_t?
        // DNNL_MEMORY_ALLOCATE is `(void *)(size_t)-1`, a macro Swift does not import.
        let handle = allocate ? UnsafeMutableRawPointer(bitPattern: UInt.max) : nil
        checkOneDNN(dnnl_memory_create(&memory, &descriptor, OneDNN.shared.engine, handle), "dnnl_memory_create")
        self.memory = memory!
        self.descriptor = descriptor
    }

    deinit {
        dnnl_memory_destroy(memory)
    }

    /// Points the memory object at `pointer`, which must stay valid until the execution that uses it ends.
    func bind(_ pointer: UnsafeMutablePointer<Float>) {
        checkOneDNN(dnnl_memory_set_data_handle(memory, pointer), "dnnl_memory_set_data_handle")
    }
}

/// One tensor argument of a primitive: plain user memory bound to a tensor's storage for each
/// call, and, where the primitive chose another layout, a buffer in that layout with the reorder
/// that fills it from the tensor (for inputs) or copies it back to the tensor (for outputs).
///
/// The buffer in the primitive's layout is scratch memory taken from `StoragePool` by `prepare`
/// and given back by `releaseScratch`, so that plans for many shapes do not each keep
/// activation-sized buffers alive between calls.
final class LayoutAdapter {
    enum Direction {
        /// The primitive reads the argument, so the tensor is reordered into the primitive's layout.
        case input
        /// The primitive writes the argument, so its layout is reordered back into the tensor.
        case output
    }

    let user: OneDNNMemory
    private let internalBuffer: OneDNNMemory?
    private let internalCount: Int
    private var scratch: TensorStorage?
    private let reorder: OneDNNPrimitive?
    private let direction: Direction

    init(plain: dnnl_memory_desc_t, primitiveLayout: dnnl_memory_desc_t, direction: Direction) {
        var plain = plain
        var primitiveLayout = primitiveLayout
        self.direction = direction
        user = OneDNNMemory(plain, allocate: false)
        if dnnl_memory_desc_equal(&plain, &primitiveLayout) != 0 {
            internalBuffer = nil
            internalCount = 0
            reorder = nil
        } else {
            internalBuffer = OneDNNMemory(primitiveLayout, allocate: false)
            let bytes = dnnl_memory_desc_get_size(&primitiveLayout)
            internalCount = (bytes + MemoryLayout<Float>.stride - 1) / MemoryLayout<Float>.stride
            switch direction {
            case .input:
                reorder = OneDNNPrimitive(reorderFrom: plain, to: primitiveLayout)
            case .output:
                reorder = OneDNNPrimitive(reorderFrom: primitiveLayout, to: plain)
            }
        }
    }

    /// The memory to pass to the primitive.
    var primitiveMemory: OneDNNMemory { internalBuffer ?? user }

    /// Binds the tensor's storage and scratch memory for the primitive's layout and, for an
    /// input, reorders the tensor into it.
    func prepare(_ tensor: Tensor) {
        user.bind(tensor.storage.pointer)
        guard let internalBuffer else {
            return
        }
        let buffer = scratch ?? TensorStorage(count: internalCount)
        scratch = buffer
        internalBuffer.bind(buffer.pointer)
        guard direction == .input, let reorder else {
            return
        }
        OneDNN.shared.execute(reorder.primitive, [(OneDNNArgument.source, user), (OneDNNArgument.destination, internalBuffer)])
    }

    /// For an output, reorders the primitive's result into the bound tensor.
    func finish() {
        guard direction == .output, let reorder, let internalBuffer else {
            return
        }
        OneDNN.shared.execute(reorder.primitive, [(OneDNNArgument.source, internalBuffer), (OneDNNArgument.destination, user)])
    }

    /// Gives the scratch memory back to the pool; call it once the primitive's call is over.
    func releaseScratch() {
        scratch = nil
    }
}

extension OneDNNPrimitive {
    /// The name of the implementation oneDNN chose, such as `jit:avx512_core` or `simple_nchw:any`.
    var implementationName: String {
        var name: UnsafePointer<CChar>?
        let status = dnnl_primitive_desc_query(descriptor, dnnl_query_impl_info_str, 0, &name)
        guard status == dnnl_success, let name else {
            return ""
        }
        return String(cString: name)
    }
}
