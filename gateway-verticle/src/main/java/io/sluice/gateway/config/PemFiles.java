package io.sluice.gateway.config;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.PrivateKey;
import java.security.Signature;
import java.security.cert.Certificate;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reads the PEM files the configuration names (a few kB, once, at startup): certificates, and a server's private key.
 * What makes a file unusable comes back as a short reason, for {@link ConfigLoader} to put in its one-line message.
 */
final class PemFiles {

  /** Key types the proxy port's TLS accepts: what certificates are issued for in practice, and what JSSE serves. */
  private static final List<String> KEY_TYPES = List.of("RSA", "EC");
  private static final Pattern PKCS8 =
      Pattern.compile("-----BEGIN PRIVATE KEY-----(.*?)-----END PRIVATE KEY-----", Pattern.DOTALL);
  private static final Pattern OTHER_KEY = Pattern.compile("-----BEGIN ([A-Z0-9 ]*PRIVATE KEY)-----");

  /** Why a file cannot be used, in a few words on one line. */
  static final class Unusable extends Exception {
    Unusable(String reason) {
      super(reason.replaceAll("\\s+", " ").trim(), null, false, false);
    }
  }

  private PemFiles() {
  }

  /** The X.509 certificates of the file's PEM blocks {@code BEGIN CERTIFICATE}, in file order; at least one. */
  static List<X509Certificate> certificates(String path) throws Unusable {
    try {
      byte[] bytes = Files.readAllBytes(Path.of(path));
      if (!new String(bytes, StandardCharsets.ISO_8859_1).contains("-----BEGIN CERTIFICATE-----")) {
        throw new Unusable("it holds none: no PEM block BEGIN CERTIFICATE");
      }
      List<X509Certificate> certificates = new ArrayList<>();
      for (Certificate certificate : CertificateFactory.getInstance("X.509")
          .generateCertificates(new ByteArrayInputStream(bytes))) {
        certificates.add((X509Certificate) certificate);
      }
      return List.copyOf(certificates);
    } catch (IOException | InvalidPathException | CertificateException e) {
      throw new Unusable(e.getClass().getSimpleName() + ": " + e.getMessage());
    }
  }

  /**
   * The file's unencrypted PKCS#8 private key ({@code BEGIN PRIVATE KEY}), RSA or EC. The older PKCS#1 ({@code BEGIN
   * RSA PRIVATE KEY}) and SEC1 ({@code BEGIN EC PRIVATE KEY}) forms and encrypted keys are refused, with the command
   * that converts them.
   */
  static PrivateKey privateKey(String path) throws Unusable {
    String text;
    try {
      text = Files.readString(Path.of(path), StandardCharsets.ISO_8859_1);
    } catch (IOException | InvalidPathException e) {
      throw new Unusable(e.getClass().getSimpleName() + ": " + e.getMessage());
    }
    Matcher pkcs8 = PKCS8.matcher(text);
    if (!pkcs8.find()) {
      Matcher other = OTHER_KEY.matcher(text);
      throw new Unusable(other.find()
          ? "it holds a " + other.group(1) + "; convert it with: openssl pkcs8 -topk8 -nocrypt -in " + path
          : "it holds no PEM block BEGIN PRIVATE KEY");
    }
    byte[] der;
    try {
      der = Base64.getDecoder().decode(pkcs8.group(1).replaceAll("\\s", ""));
    } catch (IllegalArgumentException e) {
      throw new Unusable("its PRIVATE KEY block is not base64");
    }
    for (String type : KEY_TYPES) {
      try {
        return KeyFactory.getInstance(type).generatePrivate(new PKCS8EncodedKeySpec(der));
      } catch (GeneralSecurityException e) {
        // not of this type: try the next
      }
    }
    throw new Unusable("its PRIVATE KEY is not an RSA or EC key");
  }

  /** Whether {@code key} is the private half of {@code certificate}'s public key: what it signs, the other verifies. */
  static boolean belongTogether(PrivateKey key, X509Certificate certificate) {
    if (!key.getAlgorithm().equals(certificate.getPublicKey().getAlgorithm())) {
      return false;
    }
    String algorithm = key.getAlgorithm().equals("RSA") ? "SHA256withRSA" : "SHA256withECDSA";
    byte[] probe = "does this key belong to this certificate?".getBytes(StandardCharsets.US_ASCII);
    try {
      Signature signer = Signature.getInstance(algorithm);
      signer.initSign(key);
      signer.update(probe);
      byte[] signature = signer.sign();
      Signature verifier = Signature.getInstance(algorithm);
      verifier.initVerify(certificate.getPublicKey());
      verifier.update(probe);
      return verifier.verify(signature);
    } catch (GeneralSecurityException e) {
      return false;
    }
  }
}
