import XCTest

final class PlaceholderISCSIAdminTests: XCTestCase {}
