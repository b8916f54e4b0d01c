import com.hazelcast.client.HazelcastClient;
import com.hazelcast.client.config.ClientConfig;
import com.hazelcast.config.Config;
import com.hazelcast.core.HazelcastInstance;
import com.hazelcast.map.IMap;
import io.sluice.gateway.limit.WindowSpec;
import io.sluice.gateway.limit.WindowState;

import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.ByteArrayInputStream;
import java.io.DataOutputStream;
import java.lang.reflect.Method;

/** Hazelcast client: prints, every 10 ms, the global key's owner and its admissions in the span, as the store sees them. */
public class Poll {
  public static void main(String[] args) throws Exception {
    Config config = new Config();
    Method register = Class.forName("io.sluice.gateway.cluster.ClusterSerialization").getDeclaredMethod("register", Config.class);
    register.setAccessible(true);
    register.invoke(null, config);
    ClientConfig client = new ClientConfig();
    client.setClusterName(args[0]);
    client.setSerializationConfig(config.getSerializationConfig());
    for (int i = 2; i < args.length; i++) {
      client.getNetworkConfig().addAddress("127.0.0.1:" + args[i]);
    }
    client.setProperty("hazelcast.logging.type", "none");
    HazelcastInstance hz = HazelcastClient.newHazelcastClient(client);
    IMap<String, WindowState> map = hz.getMap("sluice.limits");
    WindowSpec spec = new WindowSpec(10, 1_000);
    String key = "g|*";
    long end = System.currentTimeMillis() + Long.parseLong(args[1]);
    String last = "";
    while (System.currentTimeMillis() < end) {
      long now = System.currentTimeMillis();
      String line;
      try {
        WindowState state = map.get(key);
        var owner = hz.getPartitionService().getPartition(key).getOwner();
        line = "owner " + (owner == null ? "?" : owner.getAddress().getPort()) + " inSpan "
            + (state == null ? 0 : state.countFrom(spec.bucketOf(now) - spec.spanBuckets() + 1)) + " state "
            + describe(state);
      } catch (Exception e) {
        line = "error " + e;
      }
      if (!line.equals(last)) {
        System.out.printf("%.3f %s%n", now / 1000.0, line);
        last = line;
      }
      Thread.sleep(10);
    }
    hz.shutdown();
  }

  static String describe(WindowState state) throws Exception {
    if (state == null) {
      return "-";
    }
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    state.writeTo(new DataOutputStream(bytes));
    DataInputStream in = new DataInputStream(new ByteArrayInputStream(bytes.toByteArray()));
    in.readLong();
    int size = in.readInt();
    StringBuilder b = new StringBuilder();
    for (int i = 0; i < size; i++) {
      long bucket = in.readLong();
      int count = in.readInt();
      b.append(String.format("%.3f", bucket / 1000.0 % 100)).append('x').append(count).append(' ');
    }
    return b.toString();
  }
}
