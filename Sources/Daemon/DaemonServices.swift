// The daemon's services as swift-service-lifecycle `Service`s, run by one ServiceGroup
// (GaragePXEDaemon.run). Each one opens its socket when the group starts it, says so on
// the start-up stream (the daemon sends READY once every service has), and closes it when
// its run ends: after a graceful shutdown (SIGTERM) once its running work is done, or at
// once on cancellation (a failed start elsewhere, a second signal, the grace period over).
// The concurrency model is written down in docs/concurrency.md.

import BootHTTP
import NIOConcurrencyHelpers
import ServiceLifecycle

/// Bound but deaf until opened: the supervisor opens it once the privilege drop is complete
/// (`Privileges.finish`), and only then does any service read a request.
///
/// Why: started by hand as root, the daemon binds with a saved uid of 0 (it keeps
/// CAP_NET_BIND_SERVICE through it, capabilities being per thread) and lets that go once
/// every port is bound, with a setresuid that glibc applies to each thread in turn. A
/// request handled in between would be handled by a process that can still take root back.
/// Nothing is lost meanwhile: datagrams wait in their socket's receive queue, HTTP
/// connections in the kernel's accept queue. Under the unit (no drop) it opens as soon as
/// everything is bound.
final class ServingGate: Sendable {
    private let state = NIOLockedValueBox((isOpen: false, waiting: [AsyncStream<Never>.Continuation]()))

    func open() {
        let waiting = state.withLockedValue { state in
            state.isOpen = true
            defer { state.waiting = [] }
            return state.waiting
        }
        waiting.forEach { $0.finish() }
    }

    /// Returns true once the gate is open, false if the calling task is cancelled first.
    func opened() async -> Bool {
        let (stream, continuation) = AsyncStream.makeStream(of: Never.self)
        let isOpen = state.withLockedValue { state in
            if !state.isOpen { state.waiting.append(continuation) }
            return state.isOpen
        }
        // Ends when `open` finishes the stream, or when this task is cancelled.
        if !isOpen { for await _ in stream {} }
        return !Task.isCancelled
    }
}

/// One socket-bound server: `open` binds (a thrown error fails the start and stops every
/// service already started), `serve` starts reading requests once `gate` opens, `drain`
/// lets running work finish after SIGTERM (it must return when its task is cancelled),
/// `close` closes everything.
struct SocketService: Service, CustomStringConvertible {
    let description: String
    let open: @Sendable () throws -> Void
    var serve: @Sendable () throws -> Void = {}
    var drain: @Sendable () async -> Void = {}
    let close: @Sendable () -> Void
    /// Told once the socket is bound.
    let started: AsyncStream<String>.Continuation
    let gate: ServingGate

    func run() async throws {
        try open()
        defer { close() }
        started.yield(description)
        guard await gate.opened() else { return }
        try serve()
        // Throws on cancellation: then nothing is waited for.
        guard (try? await gracefulShutdown()) != nil else { return }
        await drain()
    }
}

/// The HTTP server: Hummingbird's application is a Service of its own; its graceful
/// shutdown closes the listening socket at once and waits for the responses being sent
/// (an initrd, a squashfs) to end. Cancelled (a second signal, the grace period over), it
/// closes every connection, which ends those responses. A failed bind becomes a message
/// that says what to check.
struct HTTPService<App: Service>: Service, CustomStringConvertible {
    let app: App
    let statistics: BootHTTPStatistics
    let failure: @Sendable (any Error) -> ConfigRuntimeError
    var description: String { "HTTP" }

    func run() async throws {
        do {
            try await withTaskCancellationHandler {
                try await app.run()
            } onCancel: {
                statistics.closeAllConnections()
            }
        } catch {
            throw failure(error)
        }
    }
}

/// A service whose body is a closure of the daemon's (the supervisor: readiness, SIGHUP,
/// timers, the start of a stop).
struct DaemonTask: Service, CustomStringConvertible {
    let description: String
    let body: @Sendable () async throws -> Void
    func run() async throws { try await body() }
}

/// The two deadlines of a graceful stop, timed by an injected clock (tests drive it by
/// hand): once `grace` is over, what still runs is cancelled; `cancelGrace` after that,
/// the daemon stops waiting for services that ignored the cancellation.
struct StopDeadlines: Sendable {
    let clock: any Clock<Duration>
    let grace: Duration
    let cancelGrace: Duration

    /// Calls `graceOver` when the grace period ends, then `cancelOver` when the cancelled
    /// services have had `cancelGrace` more. Cancelling the task (the stop ended in time)
    /// ends the wait, and what was not yet due is never called.
    func run(graceOver: () -> Void, cancelOver: () -> Void) async {
        do {
            try await clock.sleep(for: grace)
            graceOver()
            try await clock.sleep(for: cancelGrace)
            cancelOver()
        } catch {
            // Cancelled: every service ended before the deadline.
        }
    }
}
