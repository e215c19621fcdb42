#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ISCSIAdmin

// tgt-admin: apply /etc/tgt/targets.conf, or dump the running configuration, through tgtd's
// control socket (the same requests as tgtadm).
exit(TgtAdmin.main(Array(CommandLine.arguments.dropFirst()), environment: TgtAdminLiveEnvironment()))
