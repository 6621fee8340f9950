// Verifies the page's inclusion proof with the browser's own SHA-256 (RFC 9162 section 2.1.3.2),
// so the reader need not trust this server's word that the entry is in the log.
(async () => {
  const hex = (b) => [...new Uint8Array(b)].map((x) => x.toString(16).padStart(2, "0")).join("");
  const unhex = (s) => new Uint8Array(s.match(/../g).map((x) => parseInt(x, 16)));
  const sha = async (...parts) => {
    const total = parts.reduce((n, p) => n + p.length, 0);
    const buf = new Uint8Array(total);
    let off = 0;
    for (const p of parts) { buf.set(p, off); off += p.length; }
    return new Uint8Array(await crypto.subtle.digest("SHA-256", buf));
  };
  const verdict = document.getElementById("verdict");
  const list = document.getElementById("proof");
  const proof = [...list.querySelectorAll("code")].map((c) => unhex(c.textContent.trim()));
  const entry = new TextEncoder().encode(document.getElementById("canonical").textContent);
  let fn = Number(list.dataset.index);
  let sn = Number(list.dataset.size) - 1;
  let r = await sha(new Uint8Array([0]), entry);
  if (hex(r) !== document.getElementById("leaf").textContent.trim()) {
    verdict.textContent = "✗ the entry does not hash to its leaf hash";
    verdict.classList.add("bad");
    return;
  }
  for (const p of proof) {
    if (sn === 0) { verdict.textContent = "✗ proof too long"; verdict.classList.add("bad"); return; }
    if (fn % 2 === 1 || fn === sn) {
      r = await sha(new Uint8Array([1]), p, r);
      if (fn % 2 === 0) { while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); } }
    } else {
      r = await sha(new Uint8Array([1]), r, p);
    }
    fn = Math.floor(fn / 2); sn = Math.floor(sn / 2);
  }
  const ok = sn === 0 && hex(r) === document.getElementById("root").textContent.trim();
  verdict.textContent = ok ? "✓ verified in your browser: this entry is in the tree with this root"
                           : "✗ the proof does not lead to the root";
  verdict.classList.add(ok ? "good" : "bad");
})();
