// Where the daemon's blocking work runs: journal reads (sd_journal_open and a seek can take
// a while on a big journal). NIO's thread pool, the one Hummingbird's file I/O already uses,
// so no event loop and no task of the cooperative pool ever waits on a disk.

import NIOPosix

enum BlockingWork {
    static func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        do {
            return try await NIOThreadPool.singleton.runIfActive(body)
        } catch {
            // The singleton pool is never shut down; if it were, the work runs here instead.
            return body()
        }
    }

    static func run<T: Sendable, E: Error>(_ body: @escaping @Sendable () throws(E) -> T) async throws -> T {
        try await NIOThreadPool.singleton.runIfActive { try body() }
    }
}
