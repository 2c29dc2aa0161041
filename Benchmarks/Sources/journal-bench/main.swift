// Writes install events to the journal as fast as it takes them, the way the daemon does
// (JournalWriter: a queue, sd_journal_sendv), and reports events per second. The events
// follow real installs: per machine, offer, TFTP, menu, choice, two image files, preseed,
// six installer steps, post-install, finished, first boot, with the fields the daemon sets.
// Run it next to a private journald (Benchmarks/journal/run.sh), never the host's.
//
//   journal-bench EVENTS MACHINES MODE     MODE: writer (JournalWriter, as served),
//                                          direct (sd_journal_sendv inline: the floor), or
//                                          lookup (after a writer run: install once's
//                                          per-menu question, the newest deciding event of
//                                          one machine, asked for 1000 machines)

import Foundation
import InstallJournal

let arguments = CommandLine.arguments
guard arguments.count == 4, let total = Int(arguments[1]), total > 0, let machines = Int(arguments[2]), machines > 0,
      ["writer", "direct", "lookup"].contains(arguments[3]) else {
    FileHandle.standardError.write(Data("usage: journal-bench EVENTS MACHINES writer|direct|lookup\n".utf8))
    exit(2)
}
let mode = arguments[3]

/// One install's events for machine `m`, attempt `attempt`.
func macOf(_ m: Int) -> String { String(format: "52:54:01:%02x:%02x:%02x", (m >> 16) & 0xff, (m >> 8) & 0xff, m & 0xff) }

func install(_ m: Int, attempt: Int) -> [InstallEvent] {
    let mac = macOf(m)
    let id = String(format: "%08x-0000-4000-8000-%012x", m, attempt)
    var base: [InstallField: String] = [.mac: mac, .site: "bench", .ip: "10.0.\(m / 250 % 250).\(m % 250 + 2)",
                                        .platform: "efi", .arch: "x86_64", .manufacturer: "LENOVO", .product: "ThinkCentre M720q",
                                        .serial: String(format: "PF%06X", m)]
    var events = [InstallEvent(.dhcpOffer, fields: base.merging([.file: "ipxe.efi"]) { $1 }),
                  InstallEvent(.tftpSent, fields: base.merging([.file: "ipxe.efi", .bytes: "1048576", .durationMilliseconds: "412"]) { $1 }),
                  InstallEvent(.menuShown, fields: base.merging([.entry: "debian-12-auto"]) { $1 })]
    base[.installID] = id
    events.append(InstallEvent(.menuChosen, fields: base.merging([.entry: "debian-12-auto"]) { $1 }))
    for (file, bytes) in [("linux", "7000000"), ("initrd.gz", "42000000")] {
        events.append(InstallEvent(.imageSent, fields: base.merging([.file: "/images/debian-12-amd64/\(file)", .image: "debian-12-amd64", .bytes: bytes]) { $1 }))
    }
    events.append(InstallEvent(.installerStarted, fields: base.merging([.entry: "debian-12-auto"]) { $1 }))
    for step in ["network", "partitioning", "base-system", "software", "boot-loader", "finish"] {
        events.append(InstallEvent(.installerStep, fields: base.merging([.step: step, .stage: step]) { $1 }))
    }
    events.append(InstallEvent(.postinstallDone, fields: base.merging([.stage: "postinstall-done"]) { $1 }))
    events.append(InstallEvent(.installerFinished, fields: base.merging([.stage: "finished"]) { $1 }))
    base[.installID] = nil
    events.append(InstallEvent(.machineDelivered, fields: base.merging([.stage: "first-boot"]) { $1 }))
    return events
}

let clock = ContinuousClock()
func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }

if mode == "lookup" {
    // The daemon's question at each menu: one sd_journal_open of the local journal, a MAC
    // match, one entry read from the tail; checked against what the writer run wrote.
    var expected: [String: InstallEventKind] = [:]
    for event in allEvents() where InstallOnceState.decidingKinds.contains(event.kind) { expected[event.fields[.mac]!] = event.kind }
    let lookups = 1000
    var correct = 0
    let elapsed = clock.measure {
        for i in 0..<lookups {
            let mac = macOf(i * 7919 % machines)
            let record = try? InstallOnceState.latestDecidingEvent(mac: mac)
            if record?.kind == expected[mac] { correct += 1 }
        }
    }
    let s = seconds(elapsed)
    print("mode=lookup events=\(total) machines=\(machines) lookups=\(lookups) seconds=\(String(format: "%.3f", s)) microseconds_per_lookup=\(Int(s / Double(lookups) * 1e6)) correct=\(correct)")
    exit(0)
}

/// The run's events, in writing order: installs of machine 0, 1, … then again.
func allEvents() -> [InstallEvent] {
    var events: [InstallEvent] = []
    events.reserveCapacity(total)
    var attempt = 0
    while events.count < total {
        for m in 0..<machines where events.count < total {
            events += install(m, attempt: attempt).prefix(total - events.count)
        }
        attempt += 1
    }
    return events
}

// Built before the clock starts: only the writing is measured.
let events = allEvents()
var failures = 0
let elapsed: Duration
if mode == "writer" {
    // A backlog as large as the run: the run measures the journal, not the stderr fallback.
    let writer = JournalWriter(maximumBacklog: total, fallback: { _ in })
    elapsed = clock.measure {
        for event in events { writer.write(event) }
        writer.flush()
    }
    failures = writer.fallbackEvents
} else {
    let lines = events.map { $0.journalFields.map { "\($0.key)=\($0.value)" } }
    elapsed = clock.measure {
        for fields in lines where JournalWriter.sendToJournald(fields) < 0 { failures += 1 }
    }
}
let s = seconds(elapsed)
print("mode=\(mode) events=\(total) machines=\(machines) seconds=\(String(format: "%.3f", s)) events_per_second=\(Int(Double(total) / s)) failed=\(failures)")
