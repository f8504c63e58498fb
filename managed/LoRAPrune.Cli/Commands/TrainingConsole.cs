// TrainingConsole.cs — what the training commands (finetune, pretrain, prune) share on the console: one executor
// (settings, backend, run, header, summary, exit codes), a Spectre progress bar on a terminal or about 100 plain
// step lines otherwise, and SIGINT/SIGTERM turned into "finish this step, write a checkpoint, exit 130".
using System.CommandLine;
using System.Globalization;
using System.Runtime.InteropServices;
using LoRAPrune.Core.Data;
using LoRAPrune.Core.IO;
using LoRAPrune.Core.Text;
using LoRAPrune.Core.Training;
using LoRAPrune.Native;
using Spectre.Console;

namespace LoRAPrune.Cli.Commands;

internal static class TrainingConsole
{
    public const int ExitFailed = 1;
    public const int ExitUsage = 2;
    public const int ExitInterrupted = 130;

    /// <summary>
    /// Runs one training command end to end: binds its settings (a bad option exits 2 with one line), picks the
    /// backend (unusable: exit 1), installs the SIGINT/SIGTERM handler, opens the run (bad model, data or checkpoint:
    /// exit 1, nothing written), prints the header, runs the steps with progress, and prints one summary line.
    /// Exit 0 when complete, 130 when interrupted (a checkpoint is written).
    /// </summary>
    /// <param name="bind">Reads and validates the command's settings; throws TrainingSetupException.</param>
    /// <param name="device">The --device choice of the settings.</param>
    /// <param name="open">Creates the run on a context of the chosen backend (whose name is passed for the settings).</param>
    /// <param name="header">Writes the lines that describe the run before the first step.</param>
    /// <param name="produced">What a completed run wrote, for the summary ("adapter in DIR").</param>
    /// <param name="footer">What a completed run prints after the summary (prune: its before/after table).</param>
    public static int Execute<TSettings, TRun>(ParseResult parseResult, string command, Func<TSettings> bind, Func<TSettings, string> device,
        Func<TSettings, Context, string, TRun> open, Action<TextWriter, TRun> header, Func<TRun, TrainingOutcome, string> produced,
        Action<TextWriter, TRun>? footer = null)
        where TRun : TrainingRun
    {
        TextWriter error = parseResult.InvocationConfiguration.Error;
        TSettings settings;
        try
        {
            settings = bind();
        }
        catch (TrainingSetupException e)
        {
            error.WriteLine($"{command}: {e.Message}");
            return ExitUsage;
        }
        Backend backend;
        try
        {
            backend = Backend.Select(device(settings));
        }
        catch (BackendUnavailableException e)
        {
            error.WriteLine($"{command}: {e.Message}");
            return ExitFailed;
        }

        Terminal terminal = Terminal.For(parseResult);
        using var stop = new CancellationTokenSource();
        using SignalWatch signals = SignalWatch.Install(command, stop, error);
        try
        {
            using Context context = backend.CreateContext();
            using TRun run = open(settings, context, backend.Name);
            header(terminal.Out, run);
            if (run.StartStep > 0) terminal.Out.WriteLine($"resuming at step {run.StartStep:N0} of {run.TotalSteps:N0}");
            foreach (string warning in run.Warnings) terminal.Out.WriteLine($"warning: {warning}");
            terminal.Out.WriteLine($"output: {Path.GetFullPath(run.Settings.OutputFolder)}");
            TrainingOutcome outcome = RunSteps(terminal, run.StartStep, run.TotalSteps, stop.Token, (onStep, onStage) =>
            {
                run.StageProgress = onStage;
                return run.Run(onStep, stop.Token);
            });
            terminal.Out.WriteLine(Summary(command, outcome, outcome.Completed ? produced(run, outcome) : null));
            if (outcome.Completed) footer?.Invoke(terminal.Out, run);
            return outcome.Completed ? 0 : ExitInterrupted;
        }
        catch (Exception e) when (IsRunFailure(e))
        {
            error.WriteLine($"{command}: {OneLine(e.Message)}");
            return ExitFailed;
        }
    }

    /// <summary>"steps: N x B samples (A x M) of T tokens; lr ... linear to 0, warm-up W, clip C, seed S" (plus extra).</summary>
    public static string StepsLine(TrainerOptions o, int seq, string extra = "") =>
        $"steps: {o.MaxSteps:N0} x {o.Batch} samples ({o.GradAccum} x {o.MicroBatch}) of {seq} tokens; " +
        $"lr {o.LearningRate.ToString("G4", CultureInfo.InvariantCulture)} linear to 0, warm-up {o.WarmupSteps}, {extra}" +
        $"clip {o.MaxGradNorm.ToString(CultureInfo.InvariantCulture)}, seed {o.Seed}";

    /// <summary>The one line a training command ends with.</summary>
    public static string Summary(string command, TrainingOutcome o, string? produced)
    {
        string loss = o.LastStep is { } last ? $"last loss {MetricsLog.Format(last.Loss)}" : "no step run";
        string eval = o.EvalLoss is { } e ? $", eval loss {MetricsLog.Format(e)} (perplexity {MetricsLog.Format(Math.Exp(e), "F2")})" : "";
        string speed = $"{o.TokensPerSecond.ToString("N0", CultureInfo.InvariantCulture)} tok/s";
        string where = o.Completed ? produced ?? "done" : $"interrupted: checkpoint in {o.CheckpointPath}; continue with --resume";
        return $"{command}: steps {o.StartStep}->{o.Step} of {o.TotalSteps}, {loss}{eval}, {speed}, {o.Seconds:F1} s; {where}";
    }

    /// <summary>Runs the training steps with a progress bar on a terminal, plain step lines otherwise.</summary>
    /// <summary>Runs <paramref name="run"/>, which gets a per-step callback and a stage callback (the work after the
    /// last step: "stage name", fraction done), with a progress bar on a terminal and plain lines otherwise.</summary>
    public static T RunSteps<T>(Terminal terminal, long startStep, long totalSteps, CancellationToken stop, Func<Action<StepReport, double?>, Action<string, double>, T> run) =>
        terminal.Rich is not null
            ? RunWithProgressBar(terminal.Rich, startStep, totalSteps, run)
            : RunWithLines(terminal.Out, totalSteps, stop, run);

    /// <summary>The errors a training run reports as one line with exit code 1 (bad model, data, tokenizer,
    /// checkpoint or files, and native failures); anything else is a bug and propagates.</summary>
    public static bool IsRunFailure(Exception e) =>
        e is TrainingSetupException or ModelFormatException or DataFileException or TokenizerFileException or NativeException
            or IOException or UnauthorizedAccessException or InvalidDataException or NotSupportedException;

    /// <summary>Runs <paramref name="run"/> (given the per-step callback) under a Spectre progress bar.</summary>
    public static T RunWithProgressBar<T>(IAnsiConsole console, long startStep, long totalSteps, Func<Action<StepReport, double?>, Action<string, double>, T> run)
    {
        T? outcome = default;
        console.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                ProgressTask task = ctx.AddTask(Markup.Escape($"step {startStep}/{totalSteps}"), maxValue: totalSteps);
                task.Value = startStep;
                double? lastEval = null;
                ProgressTask? stageTask = null;
                string? stageName = null;
                outcome = run((report, eval) =>
                {
                    lastEval = eval ?? lastEval;
                    task.Value = report.Step;
                    task.Description = Markup.Escape(
                        $"{report.Step}/{totalSteps} loss {MetricsLog.Format(report.Loss, "F3")} " +
                        (lastEval is { } e ? $"eval {MetricsLog.Format(e, "F3")} " : "") +
                        $"{report.TokensPerSecond.ToString("N0", CultureInfo.InvariantCulture)} tok/s");
                }, (stage, fraction) =>
                {
                    if (stage != stageName)
                    {
                        if (stageTask is not null) stageTask.Value = stageTask.MaxValue;
                        stageTask = ctx.AddTask(Markup.Escape(stage), maxValue: 1.0);
                        stageName = stage;
                    }
                    stageTask!.Value = Math.Clamp(fraction, 0, 1);
                });
            });
        return outcome!;
    }

    /// <summary>Runs <paramref name="run"/> writing a plain line about every 1% of the steps, at evaluations and on a stop.</summary>
    public static T RunWithLines<T>(TextWriter output, long totalSteps, CancellationToken stop, Func<Action<StepReport, double?>, Action<string, double>, T> run)
    {
        long every = Math.Max(1, (totalSteps + 99) / 100);
        double seconds = 0;
        long done = 0;
        string? stageName = null;
        int stageQuarter = -1;
        return run((report, eval) =>
        {
            seconds += report.Seconds;
            done++;
            if (report.Step % every != 0 && report.Step != totalSteps && eval is null && !stop.IsCancellationRequested) return;
            TimeSpan eta = TimeSpan.FromSeconds(seconds / done * (totalSteps - report.Step));
            output.WriteLine($"{StepLine(report, totalSteps, eval)}  eta {eta:hh\\:mm\\:ss}");
            output.Flush();
        }, (stage, fraction) =>
        {
            // One line when a stage starts and at every quarter of it.
            int quarter = (int)Math.Floor(Math.Clamp(fraction, 0, 1) * 4);
            if (stage == stageName && quarter == stageQuarter) return;
            if (stage != stageName) quarter = Math.Min(quarter, 0);
            stageName = stage;
            stageQuarter = quarter;
            output.WriteLine($"{stage}: {quarter * 25}%");
            output.Flush();
        });
    }

    private static string StepLine(StepReport r, long total, double? eval) =>
        $"step {r.Step}/{total}  loss {MetricsLog.Format(r.Loss)}  grad {MetricsLog.Format(r.GradNorm)}  " +
        $"lr {r.LearningRate.ToString("0.00e+00", CultureInfo.InvariantCulture)}  {r.TokensPerSecond.ToString("N0", CultureInfo.InvariantCulture)} tok/s" +
        (eval is { } e ? $"  eval {MetricsLog.Format(e)}" : "");

    /// <summary>An exception message as one line.</summary>
    public static string OneLine(string message) => message.ReplaceLineEndings(" ");

    /// <summary>SIGINT/SIGTERM handling: the first signal asks the run to stop after the current step (it then
    /// writes a checkpoint and exits 130); a second one is left to terminate the process.</summary>
    public sealed class SignalWatch : IDisposable
    {
        private readonly List<PosixSignalRegistration> _registrations = new();

        public static SignalWatch Install(string command, CancellationTokenSource stop, TextWriter error)
        {
            var watch = new SignalWatch();
            foreach (PosixSignal signal in new[] { PosixSignal.SIGINT, PosixSignal.SIGTERM })
            {
                watch._registrations.Add(PosixSignalRegistration.Create(signal, context =>
                {
                    if (stop.IsCancellationRequested) return;
                    context.Cancel = true;
                    error.WriteLine($"{command}: {context.Signal}: finishing the current step, then writing a checkpoint (signal again to quit at once)");
                    stop.Cancel();
                }));
            }
            return watch;
        }

        public void Dispose()
        {
            foreach (PosixSignalRegistration registration in _registrations) registration.Dispose();
        }
    }
}
