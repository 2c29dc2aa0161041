// What the diagnostic environment sends back: `POST /report/inventory?mac=M&token=T` (the
// PC's hardware) and `POST /report/wipe?mac=M&token=T` (one disk's erase). Only a PC the
// server booted for that purpose can report: the token is the one the server put on that
// boot's kernel command line, checked against the daemon's report tokens (`ReportSessions`, purpose `.diagnostic`). Bodies are
// bounded and validated before anything reaches the journal.

import BootMenus
import Foundation
import Hummingbird
import InstallJournal
import Inventory
import NIOCore
import NetworkAddresses

/// How reports are accepted.
public struct ReportSettings: Sendable {
    /// The server's report tokens (the same store as the installer's, purpose
    /// `.diagnostic`): a report is taken only with the token this server issued to `mac`
    /// for its current diagnostic boot. None (the default): every report is refused.
    public var sessions: ReportSessions?
    /// Largest inventory accepted: 64 disks and 32 NICs at every text field's maximum fit
    /// in about 64 KiB.
    public var maximumInventoryBytes: Int
    public var maximumWipeBytes: Int

    public init(sessions: ReportSessions? = nil,
                maximumInventoryBytes: Int = 128 * 1024, maximumWipeBytes: Int = 8 * 1024) {
        self.sessions = sessions
        self.maximumInventoryBytes = maximumInventoryBytes
        self.maximumWipeBytes = maximumWipeBytes
    }
}

struct ReportRoutes: Sendable {
    let settings: ReportSettings
    let onEvent: @Sendable (BootHTTPEvent) -> Void
    let refuse: @Sendable (Request, BootRequestContext, HTTPResponse.Status, String) -> Response

    func register(on router: Router<BootRequestContext>) {
        router.post("report/inventory") { request, context in
            await receive(request, context, limit: settings.maximumInventoryBytes) { mac, body throws(ReportError) in
                .inventoried(mac: mac, report: try ReportValidation.inventory(from: body), remote: context.remote)
            }
        }
        router.post("report/wipe") { request, context in
            await receive(request, context, limit: settings.maximumWipeBytes) { mac, body throws(ReportError) in
                .diskWipeReported(mac: mac, report: try ReportValidation.wipe(from: body), remote: context.remote)
            }
        }
    }

    /// MAC, then token, then size, then content: a PC without a token never gets its body read.
    private func receive(_ request: Request, _ context: BootRequestContext, limit: Int,
                         event: (String, Data) throws(ReportError) -> BootHTTPEvent) async -> Response {
        var request = request
        var query: [String: String] = [:]
        for (key, value) in request.uri.queryParameters where query[String(key)] == nil { query[String(key)] = String(value) }
        guard let macText = query["mac"], let mac = MACAddress(macText) else {
            return refuse(request, context, .badRequest, "query parameter 'mac' must be a MAC address such as 52:54:00:12:34:56")
        }
        guard let token = query["token"], !token.isEmpty, token.utf8.count <= 256, settings.sessions?.verify(mac: mac.description, purpose: .diagnostic, presented: token, from: context.remote) == .accepted else {
            return refuse(request, context, .forbidden, "report refused: no valid token for \(mac) (it must come from the boot the server gave this PC)")
        }
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > limit {
            return refuse(request, context, .contentTooLarge, "report larger than \(limit) bytes")
        }
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: limit)
        } catch is NIOTooManyBytesError {
            return refuse(request, context, .contentTooLarge, "report larger than \(limit) bytes")
        } catch {
            return refuse(request, context, .badRequest, "report body could not be read: \(error)")
        }
        do throws(ReportError) {
            onEvent(try event(mac.description, Data(buffer: body)))
        } catch {
            return refuse(request, context, .badRequest, error.description)
        }
        return Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: "ok\n")))
    }
}
