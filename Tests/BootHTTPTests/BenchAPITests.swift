import BootHTTP
import Foundation
import InstallJournal
import Testing
import TestSupport

/// The bench API with curl against the real server on 127.0.0.1, its view fed in process;
/// the journald path is covered by BenchPageTests.
@Suite("bench API, with curl")
struct BenchAPITests {
    static let mac = "52:54:00:bb:00:01"

    static func fedView() -> BenchView {
        let view = BenchView()
        view.record(InstallEvent(.menuShown, fields: [.mac: mac, .serial: "PF0XYZ", .manufacturer: "LENOVO"]))
        view.record(InstallEvent(.menuChosen, fields: [.mac: mac, .installID: "one", .entry: "debian-13-auto"]))
        return view
    }

    @Test("/api/machines, /api/machines/MAC with 400 and 404, and the boot routes untouched")
    func routes() async throws {
        let server = try await RunningBootServer(bench: Self.fedView())
        defer { server.stop() }
        let list = try await server.curl(["\(server.base)/api/machines"])
        #expect(list.status == 200)
        #expect(list.headers["content-type"] == "application/json; charset=utf-8")
        let machines = try JSONDecoder().decode(BenchMachineList.self, from: list.body).machines
        #expect(machines.map(\.summary.mac) == [Self.mac])
        #expect(machines.first?.stage == .menuChosen && machines.first?.summary.result == "installing")

        let one = try await server.curl(["\(server.base)/api/machines/52-54-00-BB-00-01"])
        #expect(one.status == 200)
        let detail = try JSONDecoder().decode(BenchMachineDetail.self, from: one.body)
        #expect(detail.events.compactMap(\.kind) == [.menuShown, .menuChosen])
        #expect(try await server.curl(["\(server.base)/api/machines/52:54:00:00:00:00"]).status == 404)
        let bad = try await server.curl(["\(server.base)/api/machines/52:54:00:zz:00:00"])
        #expect(bad.status == 400)
        #expect(String(decoding: bad.body, as: UTF8.self) == #"{"error":"not a MAC address (expected e.g. 52:54:00:12:34:56)"}"#)
        #expect(server.events.contains { if case .refused(_, 400, _, _) = $0 { true } else { false } }, "refusals are reported")

        let page = try await server.curl(["\(server.base)/"])
        #expect(page.status == 200 && page.headers["content-type"] == "text/html; charset=utf-8")
        #expect(try await server.curl(["\(server.base)/boot.ipxe"]).status == 200)
        for path in ["/nope", "/api", "/api/machines/a/b", "/index.html"] {
            #expect(try await server.curl(["\(server.base)\(path)"]).status == 404, "\(path)")
        }
    }

    @Test("without a view, / and /api stay 404")
    func noView() async throws {
        let server = try await RunningBootServer()
        defer { server.stop() }
        #expect(try await server.curl(["\(server.base)/"]).status == 404)
        #expect(try await server.curl(["\(server.base)/api/machines"]).status == 404)
    }

    @Test("/api/events: the list at once, again after a change; a client that leaves is unsubscribed")
    func liveStream() async throws {
        let view = Self.fedView()
        let server = try await RunningBootServer(bench: view, benchStream: BenchStreamSettings(keepalive: .milliseconds(100)))
        defer { server.stop() }
        let output = server.root.appendingPathComponent("events.txt")
        // curl runs until the test has seen what it waits for, then is stopped: the stream
        // staying open is shown by curl still running then, not by a fixed window.
        let curl = Process()
        curl.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        curl.arguments = ["-s", "-N", "--max-time", "600", "-o", output.path, "\(server.base)/api/events"]
        curl.standardOutput = FileHandle.nullDevice
        curl.standardError = FileHandle.nullDevice
        try curl.run()
        defer { stop(curl) }
        #expect(await waitAsync(120) { view.subscriberCount == 1 })
        view.record(InstallEvent(.dhcpOffer, fields: [.mac: "52:54:00:bb:00:02"]))
        func received() -> String { (try? String(contentsOf: output, encoding: .utf8)) ?? "" }
        func machineMessages(_ text: String) -> [String] {
            text.components(separatedBy: "\n\n").filter { $0.hasPrefix("event: machines\ndata: ") }
        }
        #expect(await waitAsync(120) { machineMessages(received()).count >= 2 && received().contains(": keepalive\n\n") },
                "\(received())")
        #expect(curl.isRunning, "the stream stays open")
        stop(curl)
        let text = received()
        let messages = machineMessages(text)
        #expect(messages.count == 2, "\(text)")
        let last = try JSONDecoder().decode(BenchMachineList.self, from: Data(messages.last!.dropFirst("event: machines\ndata: ".count).utf8))
        #expect(last.machines.map(\.summary.mac).sorted() == [Self.mac, "52:54:00:bb:00:02"])
        #expect(text.hasPrefix("retry: 2000\n\n"))
        #expect(text.contains(": keepalive\n\n"))
        // The next keepalive write fails on the closed connection and ends the stream.
        #expect(await waitAsync(120) { view.subscriberCount == 0 }, "the disconnected client's subscription is gone")
    }

    @Test("a stream ends after its lifetime (the browser reconnects), and is unsubscribed")
    func lifetime() async throws {
        let view = Self.fedView()
        let server = try await RunningBootServer(bench: view, benchStream: BenchStreamSettings(keepalive: .seconds(5), maximumLifetime: .milliseconds(300)))
        defer { server.stop() }
        let output = server.root.appendingPathComponent("events.txt")
        #expect(try await runCurl(["-s", "-N", "--max-time", "300", "-o", output.path, "\(server.base)/api/events"]) == 0)
        #expect(try String(contentsOf: output, encoding: .utf8).contains("event: machines"))
        #expect(await waitAsync(120) { view.subscriberCount == 0 })
    }
}

/// Waits (bounded) without blocking a thread of the pool the server runs on.
func waitAsync(_ seconds: Double, _ condition: () -> Bool) async -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return condition()
}
