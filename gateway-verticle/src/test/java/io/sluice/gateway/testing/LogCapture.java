package io.sluice.gateway.testing;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.classic.spi.ThrowableProxyUtil;
import ch.qos.logback.core.AppenderBase;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;

/**
 * Collects what one logger (and the loggers under it) logs while it is open: the logger is turned to the level asked
 * for meanwhile (DEBUG for one class, INFO for everything) and back when closed. Tests log through Logback
 * (src/test/resources/logback-test.xml).
 */
public final class LogCapture implements AutoCloseable {

  private final Logger logger;
  private final Level levelBefore;
  private final List<ILoggingEvent> events = new ArrayList<>();
  private final AppenderBase<ILoggingEvent> appender = new AppenderBase<>() {
    @Override
    protected void append(ILoggingEvent event) {
      synchronized (events) {
        events.add(event);
      }
    }
  };

  private LogCapture(String name, Level from) {
    logger = (Logger) LoggerFactory.getLogger(name);
    levelBefore = logger.getLevel();
    logger.setLevel(from);
    appender.setContext(logger.getLoggerContext());
    appender.start();
    logger.addAppender(appender);
  }

  /** Everything logged by {@code type}'s logger. */
  public static LogCapture of(Class<?> type) {
    return new LogCapture(type.getName(), Level.DEBUG);
  }

  /** Everything logged under {@code name} (a logger name or a package). */
  public static LogCapture of(String name) {
    return new LogCapture(name, Level.DEBUG);
  }

  /** Everything anyone logs at INFO or above (the root logger). */
  public static LogCapture everything() {
    return new LogCapture(Logger.ROOT_LOGGER_NAME, Level.INFO);
  }

  /** The messages logged at {@code level}, formatted. */
  public List<String> messages(Level level) {
    synchronized (events) {
      return events.stream().filter(e -> e.getLevel().equals(level)).map(ILoggingEvent::getFormattedMessage).toList();
    }
  }

  /** The messages logged at {@code level} or above. */
  public List<String> messagesFrom(Level level) {
    synchronized (events) {
      return events.stream().filter(e -> e.getLevel().isGreaterOrEqual(level)).map(ILoggingEvent::getFormattedMessage)
          .toList();
    }
  }

  /** Every event as one line: level, logger, message and its throwable, if any. */
  public List<String> lines() {
    return lines(event -> true);
  }

  /** The events {@code which} accepts, each as one line. */
  public List<String> lines(java.util.function.Predicate<ILoggingEvent> which) {
    synchronized (events) {
      return events.stream().filter(which).map(e -> e.getLevel() + " " + e.getLoggerName() + ": " + e.getFormattedMessage()
          + (e.getThrowableProxy() == null ? "" : " " + ThrowableProxyUtil.asString(e.getThrowableProxy()))).toList();
    }
  }

  @Override
  public void close() {
    logger.detachAppender(appender);
    appender.stop();
    logger.setLevel(levelBefore);
  }
}
