package org.example.gadget;

import java.io.Serializable;

/**
 * A Java-serializable class from outside Sluice, Vert.x, Hazelcast and the JDK: what an attacker on the cluster
 * network would send a member to have it deserialized (a "gadget" of a deserialization exploit), harmless here.
 */
public final class Gadget implements Serializable {

  private static final long serialVersionUID = 1L;

  public final String payload;

  public Gadget(String payload) {
    this.payload = payload;
  }
}
