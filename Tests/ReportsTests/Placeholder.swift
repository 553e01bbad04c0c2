import XCTest

final class ReportsPlaceholder: XCTestCase {}
