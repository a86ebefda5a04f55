package dev.medgemmafhir.engine.cli;

import dev.medgemmafhir.engine.pull.ModelsCommand;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * {@code java -jar medgemma-cli.jar <command>}: the engine on its own, without the FHIR server.
 * A new subcommand is one more class in {@code subcommands} (e.g. a {@code bench} command).
 */
@Command(name = "medgemma",
        mixinStandardHelpOptions = true,
        versionProvider = MedGemmaCli.Version.class,
        description = "Run MedGemma ONNX exports locally with ONNX Runtime.",
        subcommands = {
                GenerateCommand.class,
                BenchCommand.class,
                InspectCommand.class,
                ModelsCommand.class,
                ReplayCommand.class,
                EvalCommand.class,
                CommandLine.HelpCommand.class,
        })
public final class MedGemmaCli implements Runnable {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    public static void main(String[] args) {
        System.exit(execute(args));
    }

    /** Runs the CLI in this JVM and returns the exit code (tests call this). */
    public static int execute(String... args) {
        return commandLine().execute(args);
    }

    /** The command tree; callers may add subcommands before executing. */
    public static CommandLine commandLine() {
        return new CommandLine(new MedGemmaCli());
    }

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getErr());
    }

    /** The version from the jar manifest, when built. */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String v = MedGemmaCli.class.getPackage().getImplementationVersion();
            return new String[] {"medgemma-cli " + (v == null ? "(development build)" : v)};
        }
    }
}
