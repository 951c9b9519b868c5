package io.scorebridge.client;

/**
 * A model file, bundle reference or manifest could not be loaded, or a file's sha256 does not match the manifest.
 * The message is always one line (line breaks of a cause's message are folded), naming what was looked for.
 */
public class ModelLoadException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    public ModelLoadException(String message) {
        super(oneLine(message));
    }

    public ModelLoadException(String message, Throwable cause) {
        super(oneLine(message), cause);
    }

    static String oneLine(String message) {
        return message == null ? null : message.strip().replaceAll("\\s*[\\r\\n]+\\s*", " ");
    }
}
