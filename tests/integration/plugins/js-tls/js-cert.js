'use strict';
// Certificate-phase test plugin (tests/integration/test_tls.py): during the TLS handshake it
// records the SNI in kong.ctx.shared (and can stall or fail the handshake on request); in access
// it forwards what the handshake recorded, proving the value travelled to the requests of that
// connection. config.stall_sni holds the handshake for stall_ms (after creating config.started_file
// if set: the test's marker that the stall has begun); config.crash_sni kills the
// plugin server mid-handshake (a handler's exception would only be logged by the JS server).
// Client certificates (kong.client.tls.*): for config.mtls_sni the handshake asks the client for
// a certificate (with config.mtls_ca as the CA, PEM, when set), for config.mtls_noca_sni without
// a CA; for config.noreuse_sni the session cannot be resumed. In access it reports the chain and
// $ssl_client_verify, and applies set_client_verify when the request asks (x-set-client-verify).

const fs = require('fs');

let handshakes = 0;

class KongPlugin {
  constructor(config) {
    this.config = config;
  }

  async certificate(kong) {
    const sni = await kong.nginx.getVar('ssl_server_name');
    handshakes += 1;
    await kong.ctx.shared.set('cert_sni', sni || '(none)');
    await kong.ctx.shared.set('cert_handshake', handshakes);
    if (sni === this.config.mtls_sni) await kong.client.tls.requestClientCertificate(this.config.mtls_ca);
    if (sni === this.config.mtls_noca_sni) await kong.client.tls.requestClientCertificate();
    if (sni === this.config.noreuse_sni) await kong.client.tls.disableSessionReuse();
    if (sni === this.config.stall_sni) {
      if (this.config.started_file) fs.writeFileSync(this.config.started_file, String(process.pid));
      await new Promise((resolve) => setTimeout(resolve, this.config.stall_ms));
    }
    if (sni === this.config.crash_sni) process.exit(3);
  }

  async access(kong) {
    const sni = await kong.ctx.shared.get('cert_sni');
    const handshake = await kong.ctx.shared.get('cert_handshake');
    await kong.service.request.setHeader('x-js-cert-sni', String(sni ?? '(no handshake)'));
    await kong.service.request.setHeader('x-js-cert-handshake', String(handshake ?? '-'));
    if ((await kong.request.getScheme()) === 'https') await this.reportClientCertificate(kong);
  }

  async reportClientCertificate(kong) {
    const chain = await kong.client.tls.getFullClientCertificateChain();
    const count = chain ? (chain.match(/-----BEGIN CERTIFICATE-----/g) || []).length : 0;
    await kong.service.request.setHeader('x-js-client-chain', String(count));
    await kong.service.request.setHeader('x-js-client-verify', await kong.nginx.getVar('ssl_client_verify'));
    const verdict = await kong.request.getHeader('x-set-client-verify');
    if (verdict) {
      await kong.client.tls.setClientVerify(verdict);
      await kong.service.request.setHeader('x-js-client-verify-after', await kong.nginx.getVar('ssl_client_verify'));
    }
  }
}

module.exports = {
  Plugin: KongPlugin,
  Schema: [
    { stall_sni: { type: 'string', default: '' } },
    { stall_ms: { type: 'number', default: 0 } },
    { started_file: { type: 'string', default: '' } },
    { crash_sni: { type: 'string', default: '' } },
    { mtls_sni: { type: 'string', default: '' } },
    { mtls_noca_sni: { type: 'string', default: '' } },
    { mtls_ca: { type: 'string' } },
    { noreuse_sni: { type: 'string', default: '' } },
  ],
  Version: '1.0.0',
  Priority: 900,
};
