// The per-PC record on the bench: `GET /machines.csv` (one row per PC, every PC the
// journal knows), `GET /machines/NAME` (one PC's page, NAME its serial, a MAC or a disk
// serial), `GET /certificates/NAME.html|.json` (its signed erasure certificate) and
// `GET /site-key` (the public key certificates are checked with). Read-only; the journal
// is read through `access.events`, which the daemon runs off the event loop.

import Certificates
import Foundation
import Hummingbird
import InstallJournal
import MachineRecords
import NIOCore

public struct MachineRecordsAccess: Sendable {
    /// Every garage-pxe event the journal holds, oldest first.
    public var events: @Sendable () async throws -> [JournalRecord]
    /// The site's signing key; nil when it could not be made (certificates then answer 503).
    public var signingKey: SiteSigningKey?
    public var site: @Sendable () -> String
    public var clock: @Sendable () -> Date

    public init(events: @escaping @Sendable () async throws -> [JournalRecord], signingKey: SiteSigningKey?,
                site: @escaping @Sendable () -> String, clock: @escaping @Sendable () -> Date = { Date() }) {
        self.events = events
        self.signingKey = signingKey
        self.site = site
        self.clock = clock
    }
}

struct MachineRoutes: Sendable {
    let access: MachineRecordsAccess
    let onEvent: @Sendable (BootHTTPEvent) -> Void

    func register(on router: Router<BootRequestContext>) {
        router.get("machines.csv") { request, context in
            await withRecords(request, context) { records in
                Response(status: .ok, headers: [.contentType: "text/csv; charset=utf-8", .contentDisposition: "attachment; filename=\"postes.csv\"",
                                                .cacheControl: "no-cache"],
                         body: .init(byteBuffer: ByteBuffer(string: MachineCSV.document(records))))
            }
        }
        router.get("machines/:name") { request, context in
            await withMachine(request, context, parameter: "name") { record in
                html(MachinePage.render(record, site: access.site(), keyFingerprint: access.signingKey?.fingerprint))
            }
        }
        router.get("certificates/:file") { request, context in
            let file = context.parameters.get("file") ?? ""
            let isJSON = file.hasSuffix(".json")
            guard isJSON || file.hasSuffix(".html") else { return refuse(request, context, .notFound, "certificates are NAME.html or NAME.json") }
            guard let key = access.signingKey else { return refuse(request, context, .serviceUnavailable, "the site's signing key is unavailable") }
            return await withMachine(request, context, name: String(file.dropLast(5))) { record in
                let certificate = ErasureCertificate.make(record: record, site: access.site(), issued: access.clock(), signingKey: key.publicKeyBase64)
                do {
                    let signed = try SignedCertificate.sign(certificate, with: key)
                    return isJSON
                        ? Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(bytes: signed.jsonFile)))
                        : html(CertificateHTML.render(signed))
                } catch {
                    return refuse(request, context, .internalServerError, "cannot sign: \(error)")
                }
            }
        }
        router.get("site-key") { _, _ in
            let text = access.signingKey.map { "\($0.publicKeyBase64)\nempreinte / fingerprint: \($0.fingerprint)\n" } ?? "no signing key\n"
            return Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: text)))
        }
    }

    private func withRecords(_ request: Request, _ context: BootRequestContext,
                             _ body: ([MachineRecord]) async -> Response) async -> Response {
        do {
            return await body(MachineRecords.fold(try await access.events()))
        } catch {
            return refuse(request, context, .serviceUnavailable, "cannot read the journal: \(error)")
        }
    }

    private func withMachine(_ request: Request, _ context: BootRequestContext, parameter: String? = nil, name: String? = nil,
                             _ body: @escaping (MachineRecord) async -> Response) async -> Response {
        guard let name = name ?? parameter.flatMap({ context.parameters.get($0) }).flatMap({ $0.removingPercentEncoding }),
              !name.isEmpty, name.utf8.count <= 128 else {
            return refuse(request, context, .badRequest, "name a machine by its serial, a MAC or a disk serial")
        }
        return await withRecords(request, context) { records in
            guard let record = MachineRecords.find(name, in: records) else {
                return refuse(request, context, .notFound, "no machine known as \(name)")
            }
            return await body(record)
        }
    }

    private func html(_ text: String) -> Response {
        Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-cache"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    private func refuse(_ request: Request, _ context: BootRequestContext, _ status: HTTPResponse.Status, _ reason: String) -> Response {
        onEvent(.refused(path: String(request.uri.path.prefix(256)), status: status.code, reason: reason, remote: context.remote))
        return Response(status: status, headers: [.contentType: "text/plain; charset=utf-8"],
                        body: .init(byteBuffer: ByteBuffer(string: "garage-pxe: \(reason)\n")))
    }
}
