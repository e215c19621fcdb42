#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ISCSIAdmin
import SystemSupport

// tgt-admin: apply /etc/tgt/targets.conf, or dump the running configuration, through tgtd's
// control socket (the same requests as tgtadm).
let arguments = Array(CommandLine.arguments.dropFirst())
// tgt's Perl script has no version option; ours answers --version (anywhere before "--") as the
// other tools do. (-v is tgt-admin's --verbose.)
if arguments.prefix(while: { $0 != "--" }).contains("--version") {
    print(ProductVersion.line("tgt-admin", reproducing: ProductVersion.tgt))
    exit(0)
}
exit(TgtAdmin.main(arguments, environment: TgtAdminLiveEnvironment()))
