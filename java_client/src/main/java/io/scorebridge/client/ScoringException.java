package io.scorebridge.client;

/**
 * A scoring call failed. For HTTP 4xx answers it carries the service's error {@code code}, the
 * offending input {@code field} and the 0-based {@code record} index from the error body
 * {@code {"error": {"code", "message", "field", "record"}}}.
 */
public class ScoringException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    private final int status;
    private final String code;
    private final String field;
    private final Integer record;
    private final String requestId;

    public ScoringException(int status, String code, String message, String field, Integer record,
                            String requestId, Throwable cause) {
        super(message, cause);
        this.status = status;
        this.code = code;
        this.field = field;
        this.record = record;
        this.requestId = requestId;
    }

    public ScoringException(String code, String message, Throwable cause) {
        this(0, code, message, null, null, null, cause);
    }

    /** HTTP status, or 0 when no HTTP answer was received (connection failure, timeout, in-process). */
    public int status() {
        return status;
    }

    /** Machine-readable error code, e.g. {@code invalid_input}, {@code connect_failed}, {@code timeout}. */
    public String code() {
        return code;
    }

    /** The input field the error is about, or {@code null}. */
    public String field() {
        return field;
    }

    /** 0-based index of the offending record in the request, or {@code null}. */
    public Integer record() {
        return record;
    }

    /** The service's request id, or {@code null}. */
    public String requestId() {
        return requestId;
    }

    /** True for a 4xx answer: the request itself is wrong and retrying cannot help. */
    public boolean isClientError() {
        return status >= 400 && status < 500;
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder("ScoringException[");
        if (status != 0) {
            sb.append(status).append(' ');
        }
        sb.append(code).append("]: ").append(getMessage());
        if (field != null) {
            sb.append(" (field ").append(field);
            if (record != null) {
                sb.append(", record ").append(record);
            }
            sb.append(')');
        }
        return sb.toString();
    }
}
