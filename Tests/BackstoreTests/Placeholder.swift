import XCTest

final class PlaceholderBackstoreTests: XCTestCase {}
