import XCTest

final class NeuralNetworksPlaceholder: XCTestCase {}
