import Foundation

FileHandle.standardError.write("iscsiadm: not implemented yet\n".data(using: .utf8)!)
exit(1)
