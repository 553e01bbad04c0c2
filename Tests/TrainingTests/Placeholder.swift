import XCTest

final class TrainingPlaceholder: XCTestCase {}
