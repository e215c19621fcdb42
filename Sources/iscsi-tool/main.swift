import Foundation

FileHandle.standardError.write("iscsi-tool: not implemented yet\n".data(using: .utf8)!)
exit(1)
