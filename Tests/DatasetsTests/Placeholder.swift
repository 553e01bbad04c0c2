import XCTest

final class DatasetsPlaceholder: XCTestCase {}
