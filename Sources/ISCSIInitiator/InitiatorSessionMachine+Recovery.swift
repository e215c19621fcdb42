import ISCSIProtocol
import NIOCore

/// The command timeout and its error handler, Linux's SCSI error handler as open-iscsi's timers
/// drive it. All decisions are made in `tick`, from the time it is given:
///
/// - A SCSI command unanswered for `timeouts.command` of connected time (summed over resends) is
///   aborted: ABORT TASK, answered within `abort`. If that fails or goes unanswered, its LUN is
///   reset (LOGICAL UNIT RESET, `logicalUnitReset`), then the target (TARGET WARM RESET,
///   `targetReset`); if that fails too, the connection is dropped. The timed-out command then fails
///   with `.timeout`; commands a reset took down with it are sent again.
/// - A command waiting without a connection for `timeouts.disconnected` in all fails.
/// - Task management, text and logout requests fail when unanswered within their limits.
extension InitiatorSessionMachine {
    /// Acts on every deadline passed by `now`. Called every `timeouts.scanInterval`.
    public mutating func tick(now: NIODeadline, into out: inout [Output]) {
        self.now = max(self.now, now)
        let offlineNow = offline(at: self.now)
        let slack = timeouts.scanInterval  // tasks are stamped with the previous tick's time
        for i in slots.indices where slotTags[i] != ISCSITag.reserved {
            if connectionCondemned { break }
            let itt = slotTags[i]
            let waitedOffline = offlineNow - slots[i]!.offlineAtSubmit
            let waitedConnected = (self.now - slots[i]!.submittedAt) - waitedOffline
            let ours = slots[i]!.context == nil
            switch slots[i]!.request {
            case .scsi:
                if !isConnected {
                    if let limit = timeouts.disconnected, waitedOffline >= limit + slack {
                        let error = ISCSIInitiatorError.sessionFailed(
                            "the command waited \(secondsText(limit)) for a connection to the target")
                        finish(itt, .failure(error), into: &out)
                    }
                } else if let limit = timeouts.command, slots[i]!.recovery == .none, waitedConnected >= limit + slack {
                    // Waiting on a closing connection counts as sent: the drop below ends it.
                    if slots[i]!.sent || draining {
                        slots[i]!.recovery = .timedOut
                    } else {
                        // Held back by MaxCmdSN, or by our queue depth behind commands that never end.
                        let why = SerialNumber(cmdSN) > SerialNumber(maxCmdSN) ? "the target's command window" : "the queue"
                        let error = ISCSIInitiatorError.timeout(
                            "command not sent within \(secondsText(limit)): \(why) stayed full")
                        finish(itt, .failure(error), into: &out)
                    }
                }
            case .taskManagement(let function, let lun, let referenced):
                let limit = timeouts.limit(of: function)
                guard isConnected, waitedConnected >= limit + (ours ? .zero : slack) else { continue }
                if ours {
                    let tmfCmdSN = slots[i]!.cmdSN
                    _ = removeTask(at: i)
                    recoveryAnswered(function, lun: lun, referenced: referenced, cmdSN: tmfCmdSN, success: false, into: &out)
                } else {
                    let error = ISCSIInitiatorError.timeout(
                        "task management function \(function.rawValue) not answered within \(secondsText(limit))")
                    finish(itt, .failure(error), into: &out)
                }
            case .text:
                if isConnected, let limit = timeouts.command, waitedConnected >= limit + slack {
                    finish(itt, .failure(.timeout("text request not answered within \(secondsText(limit))")), into: &out)
                }
            case .logout:
                let limit = timeouts.logout
                guard isConnected, waitedConnected >= limit + (ours ? .zero : slack) else { continue }
                if ours {
                    _ = removeTask(at: i)
                    condemn(.timeout("the target asked for a logout, then left ours unanswered for \(secondsText(limit))"), into: &out)
                } else {
                    finish(itt, .failure(.timeout("logout not answered within \(secondsText(limit))")), into: &out)
                }
            case .nop:
                break  // the engine's ping timer drops a connection whose pings go unanswered
            }
        }
        if isConnected && !connectionCondemned { startRecoverySteps(into: &out) }
    }

    /// Sends the TMFs the error handler's state calls for: ABORT TASK for newly timed-out
    /// commands, a LOGICAL UNIT RESET per LUN whose aborts failed, a TARGET WARM RESET when LU
    /// resets failed. While the connection is closing at the target's request nothing new may be
    /// sent on it: it is dropped instead.
    private mutating func startRecoverySteps(into out: inout [Output]) {
        var aborts: [UInt32] = []
        var lunResets: [UInt64] = []
        var targetReset = false
        for i in slots.indices where slotTags[i] != ISCSITag.reserved && slots[i]!.isSCSI {
            switch slots[i]!.recovery {
            case .timedOut: aborts.append(slotTags[i])
            case .needsLUReset:
                let lun = slots[i]!.lun
                if luResets[lun] == nil && !lunResets.contains(lun) { lunResets.append(lun) }
            case .needsTargetReset: targetReset = targetReset || targetResetITT == nil
            case .none, .aborting: break
            }
        }
        guard !aborts.isEmpty || !lunResets.isEmpty || targetReset else { return }
        if draining { return dropConnection("the connection was closing at the target's request", into: &out) }
        for itt in aborts {
            guard let i = slot(itt) else { continue }
            slots[i]!.recovery = .aborting
            let lun = slots[i]!.lun
            enqueue(.taskManagement(function: .abortTask, lun: lun, referencedTaskTag: itt), context: nil, into: &out)
        }
        for lun in lunResets {
            luResets[lun] = enqueue(
                .taskManagement(function: .logicalUnitReset, lun: lun, referencedTaskTag: nil), context: nil, into: &out)
        }
        if targetReset {
            targetResetITT = enqueue(
                .taskManagement(function: .targetWarmReset, lun: 0, referencedTaskTag: nil), context: nil, into: &out)
        }
    }

    /// One of the error handler's TMFs ended: answered (`success` when it did its job) or not
    /// answered in time (`success` false). `cmdSN` is the TMF's: commands sent before it are the
    /// ones a reset ended.
    mutating func recoveryAnswered(
        _ function: TaskManagementRequest.Function, lun: UInt64, referenced: UInt32?, cmdSN tmfCmdSN: UInt32,
        success: Bool, into out: inout [Output]
    ) {
        switch function {
        case .abortTask:
            guard let referenced, let i = slot(referenced), slots[i]!.recovery == .aborting else { return }
            if success {
                finish(referenced, .failure(timedOutError(i, "ended by ABORT TASK")), into: &out)
            } else {
                slots[i]!.recovery = .needsLUReset
            }
        case .logicalUnitReset:
            luResets[lun] = nil
            if success { return endResetTasks(lun: lun, before: tmfCmdSN, by: "LOGICAL UNIT RESET", into: &out) }
            for i in slots.indices
            where slotTags[i] != ISCSITag.reserved && slots[i]!.lun == lun && slots[i]!.recovery == .needsLUReset {
                slots[i]!.recovery = .needsTargetReset
            }
        case .targetWarmReset:
            targetResetITT = nil
            if success { return endResetTasks(lun: nil, before: tmfCmdSN, by: "TARGET WARM RESET", into: &out) }
            dropConnection("ABORT TASK, LOGICAL UNIT RESET and TARGET WARM RESET all failed", into: &out)
        default:
            break
        }
    }

    /// A reset succeeded: the timed-out commands it covered fail; the others it took down (sent
    /// before it, on `lun` or on any LUN) are sent again.
    private mutating func endResetTasks(lun: UInt64?, before tmfCmdSN: UInt32, by reset: String, into out: inout [Output]) {
        var again: [(UInt32, UInt32)] = []
        for i in slots.indices where slotTags[i] != ISCSITag.reserved && slots[i]!.isSCSI && slots[i]!.sent {
            guard lun == nil || slots[i]!.lun == lun, SerialNumber(slots[i]!.cmdSN) < SerialNumber(tmfCmdSN) else { continue }
            let itt = slotTags[i]
            if slots[i]!.recovery != .none {
                finish(itt, .failure(timedOutError(i, "ended by \(reset)")), into: &out)
            } else if unsend(at: i) {
                inFlight -= 1
                again.append((slots[i]!.cmdSN, itt))
            } else {
                let error = ISCSIInitiatorError.sessionFailed(
                    "command ended by \(reset) after \(timeouts.resends) resends")
                finish(itt, .failure(error), into: &out)
            }
        }
        // First in line again, in their original order.
        again.sort { SerialNumber($0.0) > SerialNumber($1.0) }
        for (_, itt) in again { waiting.prepend(itt) }
        drain(into: &out)
    }

    /// The error handler's last step: the timed-out commands fail and the connection closes (at
    /// ErrorRecoveryLevel 0 that ends their tasks at the target); the replacement timeout decides
    /// the rest.
    private mutating func dropConnection(_ reason: String, into out: inout [Output]) {
        for i in slots.indices where slotTags[i] != ISCSITag.reserved && slots[i]!.isSCSI && slots[i]!.recovery != .none {
            finish(slotTags[i], .failure(timedOutError(i, "\(reason); connection dropped")), into: &out)
        }
        condemn(.timeout("error recovery: \(reason); dropping the connection"), into: &out)
    }

    /// The error a timed-out command fails with.
    func timedOutError(_ i: Int, _ outcome: String) -> ISCSIInitiatorError {
        var command = "SCSI command"
        if case .scsi(_, let cdb, _, _) = slots[i]!.request, let opcode = cdb.getInteger(at: cdb.readerIndex, as: UInt8.self) {
            command += " 0x" + (opcode < 16 ? "0" : "") + String(opcode, radix: 16)
        }
        return .timeout("\(command) got no answer within \(secondsText(timeouts.command ?? .zero)); \(outcome)")
    }

    /// The target asked for a logout (Async Message, event 1): stop sending on this connection and
    /// log it out; the session then logs in again.
    mutating func logoutRequested(into out: inout [Output]) {
        guard isConnected, !draining else { return }
        for i in slots.indices where slotTags[i] != ISCSITag.reserved {
            if case .logout = slots[i]!.request { return }  // a logout is already out
        }
        draining = true
        enqueue(.logout, context: nil, into: &out)
    }
}
