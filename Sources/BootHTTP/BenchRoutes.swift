// The workshop's bench page and its JSON API, served next to the boot routes: `GET /` the
// page, `GET /api/machines` every machine of the last 24 h, `GET /api/machines/MAC` one
// machine and its events, `GET /api/events` the same list pushed as server-sent events
// whenever the view changes. Nothing here writes anything: it reads the `BenchView`.

import Foundation
import Hummingbird
import InstallJournal
import NIOConcurrencyHelpers
import NIOCore
import NetworkAddresses
import ServiceLifecycle

/// The open bench-page event streams: each holds a connection and gets the whole list on
/// every change, so their number is capped (HTTPConnectionLimits.maxEventStreams).
final class EventStreamSlots: Sendable {
    private let open = NIOLockedValueBox(0)
    let limit: Int
    let statistics: BootHTTPStatistics

    init(limit: Int, statistics: BootHTTPStatistics) {
        self.limit = limit
        self.statistics = statistics
    }

    /// Takes a slot; nil (counted) when all are taken.
    func take() -> Slot? {
        let taken = open.withLockedValue { open in
            guard open < limit else { return false }
            open += 1
            return true
        }
        guard taken else {
            statistics.countEventStreamRefused()
            return nil
        }
        return Slot(self)
    }

    /// Given back when the last reference goes: the stream's body holds it, so it is freed
    /// however the response ends, even if its body never runs (client gone before).
    final class Slot: Sendable {
        private let slots: EventStreamSlots
        init(_ slots: EventStreamSlots) { self.slots = slots }
        deinit { slots.open.withLockedValue { $0 -= 1 } }
    }
}

/// How the live stream behaves; the defaults suit a browser, tests shorten them.
public struct BenchStreamSettings: Sendable {
    /// A comment line this often: proxies keep the stream open, and a client that went
    /// away is noticed by the failed write, which ends its subscription.
    public var keepalive: Duration
    /// Each stream ends after this long and the browser reconnects on its own: no
    /// response lives forever, even if a dead connection is never noticed.
    public var maximumLifetime: Duration

    public init(keepalive: Duration = .seconds(15), maximumLifetime: Duration = .seconds(600)) {
        self.keepalive = keepalive
        self.maximumLifetime = maximumLifetime
    }
}

/// `GET /api/machines` and each message of `/api/events`.
public struct BenchMachineList: Sendable, Equatable, Codable {
    /// The server's clock, so the page can count elapsed time without trusting its own.
    public var generatedMicroseconds: UInt64
    public var windowSeconds: Int
    /// The progress bar's stages, in order.
    public var stages: [BenchStage]
    public var machines: [BenchRow]
    /// Shown above the table: the server's own problems (events not recorded).
    public var warnings: [String] = []
}

struct BenchRoutes: Sendable {
    let view: BenchView
    let stream: BenchStreamSettings
    let onEvent: @Sendable (BootHTTPEvent) -> Void
    let streams: EventStreamSlots

    func register(on router: Router<BootRequestContext>) {
        router.get("/") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-cache"],
                     body: .init(byteBuffer: ByteBuffer(string: BenchPage.html)))
        }
        router.get("api/machines") { _, _ in json(list()) }
        router.get("api/machines/:mac") { request, context in machine(request, context) }
        router.get("api/events") { request, context in
            guard let slot = streams.take() else {
                var response = refuse(request, context, .serviceUnavailable, "\(streams.limit) live views are open already (limits.max_event_streams)")
                response.headers[.retryAfter] = "30"
                return response
            }
            return events(holding: slot, until: context.channel.closeFuture)
        }
    }

    func list() -> BenchMachineList {
        BenchMachineList(generatedMicroseconds: UInt64(max(0, view.currentDate.timeIntervalSince1970) * 1e6), windowSeconds: Int(view.window),
                         stages: BenchStage.allCases, machines: view.rows(), warnings: view.warnings)
    }

    func machine(_ request: Request, _ context: BootRequestContext) -> Response {
        guard let text = context.parameters.get("mac"), let mac = JournalReader.normalizedMAC(text) else {
            return refuse(request, context, .badRequest, "not a MAC address (expected e.g. 52:54:00:12:34:56)")
        }
        guard let detail = view.machine(mac: mac) else {
            return refuse(request, context, .notFound, "machine \(mac) not seen in the last \(Int(view.window / 3600)) h")
        }
        return json(detail)
    }

    /// Server-sent events: the whole list at once, then again after each change (changes
    /// that come while a copy is being sent are folded into the next one). The slot taken
    /// for it is given back when the response is gone.
    func events(holding slot: EventStreamSlots.Slot, until closed: EventLoopFuture<Void>) -> Response {
        let view = self.view
        let settings = stream
        let body = ResponseBody { writer in
            withExtendedLifetime(slot) {}
            let (ticks, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
            let token = view.subscribe { continuation.yield() }
            // A client gone ends its stream (and frees its slot) at once, not at the next
            // keepalive that would fail.
            closed.whenComplete { _ in continuation.finish() }
            // Dispatch timers, not sleeping tasks: they tick the stream from a timer queue.
            let keepalive = DispatchSource.makeTimerSource(queue: Self.timerQueue)
            keepalive.schedule(deadline: .now() + Self.interval(settings.keepalive), repeating: Self.interval(settings.keepalive))
            keepalive.setEventHandler { continuation.yield() }
            keepalive.resume()
            let lifetime = DispatchSource.makeTimerSource(queue: Self.timerQueue)
            lifetime.schedule(deadline: .now() + Self.interval(settings.maximumLifetime))
            lifetime.setEventHandler { continuation.finish() }
            lifetime.resume()
            // However the stream ends (client gone: a write throws; server stopping: the
            // graceful shutdown ends the loop below, a cut-short stop cancels the task;
            // lifetime over), the subscription and timers go with it.
            defer {
                view.unsubscribe(token)
                keepalive.cancel()
                lifetime.cancel()
                continuation.finish()
            }
            var sent = view.changes
            try await writer.write(ByteBuffer(string: "retry: 2000\n\n" + Self.message(list())))
            // A page left open must not hold a graceful stop for its whole grace period.
            for await _ in ticks.cancelOnGracefulShutdown() {
                let now = view.changes
                if now != sent {
                    sent = now
                    try await writer.write(ByteBuffer(string: Self.message(list())))
                } else {
                    try await writer.write(ByteBuffer(string: ": keepalive\n\n"))
                }
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: body)
    }

    static let timerQueue = DispatchQueue(label: "garage-pxe.bench-stream-timers")

    static func interval(_ duration: Duration) -> DispatchTimeInterval {
        .nanoseconds(Int(duration.wholeNanoseconds))
    }

    static func message(_ list: BenchMachineList) -> String {
        // JSONEncoder writes one line (newlines inside strings are escaped), as `data:` needs.
        "event: machines\ndata: \(String(decoding: (try? encoder.encode(list)) ?? Data("{}".utf8), as: UTF8.self))\n\n"
    }

    static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    private func json(_ value: some Encodable) -> Response {
        do {
            return Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8", .cacheControl: "no-cache"],
                            body: .init(byteBuffer: ByteBuffer(bytes: try Self.encoder.encode(value))))
        } catch {
            return Response(status: .internalServerError, headers: [.contentType: "text/plain; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(string: "garage-pxe: cannot encode the bench view: \(error)\n")))
        }
    }

    /// A JSON error, reported like the boot routes' refusals (logged and counted).
    private func refuse(_ request: Request, _ context: BootRequestContext, _ status: HTTPResponse.Status, _ reason: String) -> Response {
        onEvent(.refused(path: String(request.uri.path.prefix(256)), status: status.code, reason: reason, remote: context.remote))
        let body = (try? Self.encoder.encode(["error": reason])) ?? Data()
        return Response(status: status, headers: [.contentType: "application/json; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}
