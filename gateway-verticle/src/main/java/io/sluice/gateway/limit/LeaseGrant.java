package io.sluice.gateway.limit;

/**
 * A batch of permits a gateway may hand out by itself between {@code startMillis} and {@code endMillis}; recorded
 * in the store in {@code bucket} (the bucket where the lease ends). {@code permits} 0 means denied, and then
 * {@code retryAtMillis} says when a permit could be free.
 */
public record LeaseGrant(int permits, long bucket, long startMillis, long endMillis, int remaining,
                         long resetMillis, long retryAtMillis) {
}
