@testable import Daemon
import Dispatch
import Foundation
import Synchronization
import Testing
import TestSupport

/// The menus folder watcher on a real folder with real inotify: one saved file is one
/// reload. The watcher re-adds its watches after every change; the IN_IGNORED that each
/// removal queues once counted as a change, so one save became a reload every 300 ms,
/// forever (found on the installed package under systemd, issue 15).
@Suite("menus folder watcher")
struct FolderWatcherTests {
    @Test("one saved file gives one change, and the watcher's own re-added watches give none")
    func oneSaveOneChange() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("gpx-watch-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let queue = DispatchQueue(label: "watcher-test")
        let changes = Mutex(0)
        let watcher = try #require(FolderWatcher(folders: [folder.path], queue: queue, quiet: .milliseconds(20)) {
            changes.withLock { $0 += 1 }
        })
        watcher.start()
        defer { watcher.stop() }
        queue.sync {}  // the watches are in place

        try Data("entries: []\n".utf8).write(to: folder.appendingPathComponent("menu.yaml"), options: .atomic)
        #expect(waitUntil(60) { changes.withLock { $0 } >= 1 })
        // With the bug, each change re-armed the next one every 20 ms: fifty quiet periods
        // leave room for dozens. Without it, nothing more happens.
        Thread.sleep(forTimeInterval: 1)
        #expect(changes.withLock { $0 } == 1)

        // A second save is noticed too: the re-added watches work.
        try Data("entries: []\n# edited\n".utf8).write(to: folder.appendingPathComponent("menu.yaml"), options: .atomic)
        #expect(waitUntil(60) { changes.withLock { $0 } >= 2 })
    }

    @Test("IN_IGNORED alone is no change; any other event is")
    func ignoredIsNoChange() {
        func event(_ mask: Int32, name: String = "") -> [UInt8] {
            let padded = name.isEmpty ? [] : Array(name.utf8) + [UInt8](repeating: 0, count: 16 - name.utf8.count % 16)
            let words: [UInt32] = [1, UInt32(bitPattern: mask), 0, UInt32(padded.count)]
            return words.withUnsafeBytes { Array($0) } + padded
        }
        #expect(!FolderWatcher.holdsChange(ArraySlice(event(Int32(IN_IGNORED)) + event(Int32(IN_IGNORED)))))
        #expect(FolderWatcher.holdsChange(ArraySlice(event(Int32(IN_IGNORED)) + event(Int32(IN_CLOSE_WRITE), name: "menu.yaml"))))
        #expect(FolderWatcher.holdsChange(ArraySlice(event(Int32(IN_MOVED_TO), name: "menu.yaml") + event(Int32(IN_IGNORED)))))
        #expect(!FolderWatcher.holdsChange([]))
    }
}
