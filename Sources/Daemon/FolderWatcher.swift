// Notices when admins save menu files (or an image is imported) and asks for a reload.
// inotify on the folders rather than the files: editors save by writing a new file and
// renaming it over the old one, which a watch on the old file would miss. A burst of
// events (an editor's write, rename and chmod) becomes one reload after a short quiet.

import Dispatch
import Foundation
#if canImport(Glibc)
import Glibc
#endif

final class FolderWatcher: @unchecked Sendable {
    // Touched only on `queue`.
    private let queue: DispatchQueue
    private let folders: [String]
    private let quiet: DispatchTimeInterval
    private let onChange: () -> Void
    private let descriptor: Int32
    private var source: DispatchSourceRead?
    private var watches: [Int32] = []
    private var pending: DispatchWorkItem?

    /// `onChange` runs on `queue`, `quiet` after the last event of a burst.
    init?(folders: [String], queue: DispatchQueue, quiet: DispatchTimeInterval = .milliseconds(300), onChange: @escaping () -> Void) {
        let fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard fd >= 0 else { return nil }
        descriptor = fd
        self.folders = folders
        self.queue = queue
        self.quiet = quiet
        self.onChange = onChange
    }

    func start() {
        queue.async { [self] in
            addWatches()
            let source = DispatchSource.makeReadSource(fileDescriptor: descriptor, queue: queue)
            source.setEventHandler { [weak self] in self?.drain() }
            source.setCancelHandler { [descriptor] in close(descriptor) }
            source.resume()
            self.source = source
        }
    }

    func stop() {
        queue.sync {
            pending?.cancel()
            source?.cancel()
            source = nil
        }
    }

    /// Watches every folder that exists now; called again after each change, since a
    /// folder that was replaced (a git checkout, an rsync) drops its old watch.
    private func addWatches() {
        for wd in watches { inotify_rm_watch(descriptor, wd) }
        let mask = UInt32(IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF)
        watches = folders.compactMap { folder in
            let wd = inotify_add_watch(descriptor, folder, mask)
            return wd >= 0 ? wd : nil
        }
    }

    private func drain() {
        // Events only matter as "something changed": read them all, keep none.
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        var sawChange = false
        for _ in 0..<64 {
            let n = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            if Self.holdsChange(buffer[0..<n]) { sawChange = true }
        }
        guard sawChange else { return }
        pending?.cancel()
        let work = DispatchWorkItem { [weak self] in
            guard let self else { return }
            self.addWatches()
            self.onChange()
        }
        pending = work
        queue.asyncAfter(deadline: .now() + quiet, execute: work)
    }

    /// Whether a read of inotify events holds anything but IN_IGNORED. addWatches removes
    /// and re-adds every watch after each change, and each removal queues an IN_IGNORED:
    /// counted as a change, it made every reload schedule the next one, a reload every
    /// `quiet` forever (seen on the installed package: three config.reloaded events a
    /// second after one saved menu). A deleted folder still counts through IN_DELETE_SELF.
    static func holdsChange(_ events: ArraySlice<UInt8>) -> Bool {
        // struct inotify_event { int wd; uint32_t mask, cookie, len; char name[len]; }, native byte order.
        events.withUnsafeBytes { raw in
            var offset = 0
            while offset + 16 <= raw.count {
                let mask = raw.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self)
                if mask & UInt32(IN_IGNORED) == 0 { return true }
                offset += 16 + Int(raw.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self))
            }
            return false
        }
    }
}
