import XCTest

final class PlaceholderOpenISCSIConfigTests: XCTestCase {}
