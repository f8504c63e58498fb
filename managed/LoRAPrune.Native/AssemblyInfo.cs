// AssemblyInfo.cs — assembly-wide interop settings of the native bindings.
// Runtime marshalling is off: every native signature is blittable (pointers, integers, floats and
// the LpTensor/LpDeviceInfo/LpMemoryStats mirrors), so calls cost a plain indirect call.
using System.Runtime.CompilerServices;

[assembly: DisableRuntimeMarshalling]
