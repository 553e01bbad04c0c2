import XCTest

final class ProbesPlaceholder: XCTestCase {}
