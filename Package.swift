// swift-tools-version:6.0
import PackageDescription

/// Release builds of the data-path modules skip Swift's dynamic exclusivity checks: they cost
/// about 3% of CPU per IO in profiles of both the target and the initiator. Debug builds (and so
/// every test run) keep them.
let dataPathSettings: [SwiftSetting] = [
    .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))
]

let package = Package(
    name: "swift-iscsi",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "tgtd", targets: ["tgtd"]),
        .executable(name: "tgtadm", targets: ["tgtadm"]),
        .executable(name: "tgt-admin", targets: ["tgt-admin"]),
        .executable(name: "targetcli", targets: ["targetcli"]),
        .library(name: "ISCSIProtocol", targets: ["ISCSIProtocol"]),
        .library(name: "ISCSITarget", targets: ["ISCSITarget"]),
        .library(name: "ISCSIInitiator", targets: ["ISCSIInitiator"]),
        // For the fuzz targets in Fuzz/ (a package of its own that depends on this one by path).
        .library(name: "SCSITarget", targets: ["SCSITarget"]),
        .library(name: "Backstore", targets: ["Backstore"]),
        .library(name: "ISCSIAdmin", targets: ["ISCSIAdmin"]),
        .library(name: "OpenISCSIConfig", targets: ["OpenISCSIConfig"]),
        .executable(name: "iscsiadm", targets: ["iscsiadm"]),
        .executable(name: "iscsid", targets: ["iscsid"]),
        .executable(name: "iscsi-tool", targets: ["iscsi-tool"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-atomics.git", from: "1.3.0"),
    ],
    targets: [
        // Hardware CRC32C (SSE4.2 / ARMv8 CRC) behind a tiny C API, with a table fallback.
        .target(name: "CCRC32C"),
        .target(
            name: "ISCSIProtocol",
            dependencies: ["CCRC32C", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: dataPathSettings
        ),
        .target(name: "SCSIProtocol"),
        .target(
            name: "Backstore",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: dataPathSettings
        ),
        .target(
            name: "SCSITarget",
            dependencies: [
                "SCSIProtocol", "Backstore",
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: dataPathSettings
        ),
        .target(
            name: "ISCSITarget",
            dependencies: [
                "ISCSIProtocol", "SCSITarget", "Backstore",
                .product(name: "Atomics", package: "swift-atomics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: dataPathSettings
        ),
        // POSIX plumbing shared by the daemons and tools: Unix control sockets, small-file reads.
        .target(name: "SystemSupport"),
        .target(name: "ISCSIAdmin", dependencies: ["SystemSupport", "SCSIProtocol"]),
        .executableTarget(
            name: "tgtd",
            dependencies: [
                "ISCSITarget", "ISCSIAdmin", "Backstore", "SCSITarget", "SystemSupport", "MetricsHTTP",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .executableTarget(
            name: "tgtadm",
            dependencies: ["ISCSIAdmin", "SystemSupport"]
        ),
        .executableTarget(
            name: "tgt-admin",
            dependencies: ["ISCSIAdmin", "SystemSupport"]
        ),
        .executableTarget(
            name: "targetcli",
            dependencies: ["ISCSIAdmin", "SystemSupport"]
        ),
        .target(
            name: "ISCSIInitiator",
            dependencies: [
                "ISCSIProtocol", "SCSIProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: dataPathSettings
        ),
        .target(name: "OpenISCSIConfig", dependencies: ["SystemSupport"]),
        // The opt-in Prometheus endpoint of tgtd and iscsid (GET /metrics, text format).
        .target(
            name: "MetricsHTTP",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]
        ),
        // libfuse3 glue and loop-device ioctls for BlockDevice (Linux only).
        .target(
            name: "CFUSE",
            linkerSettings: [.linkedLibrary("fuse3", .when(platforms: [.linux]))]
        ),
        .target(
            name: "BlockDevice",
            dependencies: [
                "CFUSE", "SystemSupport", .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: dataPathSettings
        ),
        // iSCSI LUNs as the storage of BlockDevice's FUSE files: what iscsid attaches on login.
        .target(
            name: "ISCSIBlockDevice",
            dependencies: [
                "BlockDevice", "ISCSIInitiator", "SCSIProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]
        ),
        .executableTarget(
            name: "iscsiadm",
            dependencies: ["OpenISCSIConfig", "SystemSupport"]
        ),
        .executableTarget(
            name: "iscsid",
            dependencies: [
                "OpenISCSIConfig", "ISCSIInitiator", "ISCSIProtocol", "ISCSIBlockDevice", "SystemSupport", "MetricsHTTP",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .executableTarget(
            name: "iscsi-tool",
            dependencies: [
                "ISCSIInitiator", "SystemSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .target(
            name: "ISCSITestSupport",
            dependencies: [
                "ISCSIProtocol", "ISCSITarget", "Backstore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Tests/ISCSITestSupport"
        ),
        .testTarget(
            name: "ISCSIProtocolTests",
            dependencies: [
                "ISCSIProtocol", "ISCSITestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "SCSITargetTests",
            dependencies: ["SCSITarget", "SCSIProtocol", "Backstore", .product(name: "NIOPosix", package: "swift-nio")]
        ),
        .testTarget(
            name: "BackstoreTests",
            dependencies: [
                "Backstore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "ISCSITargetTests",
            dependencies: [
                "ISCSITarget", "ISCSIProtocol", "ISCSITestSupport", "Backstore", "SCSITarget",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .testTarget(name: "ISCSIAdminTests", dependencies: ["ISCSIAdmin", "SystemSupport"]),
        .testTarget(
            name: "ISCSIInitiatorTests",
            dependencies: [
                "ISCSIInitiator", "ISCSIProtocol", "ISCSITarget", "SCSITarget", "Backstore", "ISCSITestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "OpenISCSIConfigTests", dependencies: ["OpenISCSIConfig", "SystemSupport"]),
        .testTarget(name: "SystemSupportTests", dependencies: ["SystemSupport"]),
        .testTarget(name: "ISCSIToolTests", dependencies: ["iscsi-tool"]),
        .testTarget(
            name: "MetricsHTTPTests",
            dependencies: [
                "MetricsHTTP",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "ISCSIBlockDeviceTests",
            dependencies: [
                "ISCSIBlockDevice", "BlockDevice", "ISCSIInitiator", "ISCSITestSupport", "SCSIProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "BlockDeviceTests",
            dependencies: [
                "BlockDevice", "CFUSE",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
    ],
    swiftLanguageModes: [.v5]
)
